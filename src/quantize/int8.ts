/**
 * Symmetric int8 quantization of a float matrix, one scale per channel (row or column):
 *   scale_c = max_i |W[i, c]| / 127,   q = clamp(round_half_even(W / scale_c), -127, 127),   zero point 0.
 * The range is [-127, 127] rather than [-128, 127] so that +x and -x quantize to +q and -q (PyTorch's
 * symmetric per-channel scheme); rounding is half-to-even, as ONNX QuantizeLinear rounds.
 */

export interface QuantizedMatrix {
  /** Row-major int8 values, same layout as the input. */
  values: Int8Array;
  /** One scale per channel; an all-zero channel gets scale 1 (its values are 0 either way). */
  scales: Float32Array;
}

/** Rounds to the nearest integer, ties to even (what ONNX QuantizeLinear and numpy.round do). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; a tie landing on an odd integer goes back down to the even one.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Quantizes a rows x cols matrix. `axis` names the channel: 1 = one scale per column (a MatMul weight
 * [K, N], channel = output feature), 0 = one scale per row (an embedding table [V, D], channel = token).
 */
export function quantizeSymmetric(w: Float32Array, rows: number, cols: number, axis: 0 | 1): QuantizedMatrix {
  if (w.length !== rows * cols) throw new RangeError(`quantizeSymmetric: ${w.length} values for a ${rows}x${cols} matrix`);
  const channels = axis === 1 ? cols : rows;
  const absMax = new Float64Array(channels);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(w[r * cols + c]!);
      const ch = axis === 1 ? c : r;
      if (a > absMax[ch]!) absMax[ch] = a;
    }
  }
  const scales = new Float32Array(channels);
  for (let ch = 0; ch < channels; ch++) scales[ch] = absMax[ch]! > 0 ? absMax[ch]! / 127 : 1;
  const values = new Int8Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = scales[axis === 1 ? c : r]!;
      const q = roundHalfEven(w[r * cols + c]! / s);
      values[r * cols + c] = Math.max(-127, Math.min(127, q));
    }
  }
  return { values, scales };
}

/** Transposes a rows x cols row-major matrix (Gemm's transB weights become MatMul's [K, N] layout). */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}
