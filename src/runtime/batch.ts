/**
 * Batches as ORT tensors, and stacking several into the `steps` axis of the K-step loop model. Stacked
 * batches must share their shapes, so sequences are padded to the longest in the group with each input's
 * neutral value (padding tokens, attention 0, ignored labels).
 */
// onnxruntime-common's Tensor, not a runtime's: onnxruntime-node and -web read feeds by their fields, so the
// browser entry point (web/) builds its batches here too.
import { Tensor } from 'onnxruntime-common';
import { InputError } from '../errors.js';

export type Batch = Record<string, Tensor>;


type Numeric = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

function allocLike(t: Tensor, size: number): Numeric {
  const d = t.data as Numeric;
  return new (d.constructor as new (n: number) => Numeric)(size);
}

/** Pads axis 1 (sequence) of every [B, S, ...] input to `seq`. */
export function padSequence(t: Tensor, seq: number, value: number): Tensor {
  if (t.dims.length < 2 || t.dims[1] === seq) return t;
  const [b, s, ...rest] = t.dims as number[];
  const inner = rest.reduce((x, y) => x * y, 1);
  const out = allocLike(t, b! * seq * inner);
  const fill = out instanceof BigInt64Array ? BigInt(value) : value;
  (out as { fill(v: unknown): unknown }).fill(fill);
  const src = t.data as Numeric;
  for (let i = 0; i < b!; i++) {
    (out as Float32Array).set((src as Float32Array).subarray(i * s! * inner, (i + 1) * s! * inner), i * seq * inner);
  }
  return new Tensor(t.type as 'float32', out as Float32Array, [b!, seq, ...rest]);
}

/** How a batch input is stacked: inputs with a sequence axis are padded to the group's longest. */
export interface StackSpec {
  name: string;
  pad: number;
  sequence_axis: number | null;
}

/** Stacks batches along a new leading axis; all must have the same batch size. */
export function stackBatches(batches: readonly Batch[], specs: readonly StackSpec[]): Batch {
  if (batches.length === 0) throw new InputError('no batches to run');
  const out: Batch = {};
  const seq = Math.max(0, ...batches.flatMap((b) => specs.filter((s) => s.sequence_axis === 1 && b[s.name]).map((s) => b[s.name]!.dims[1] as number)));
  for (const { name, pad, sequence_axis } of specs) {
    const parts = batches.map((b, k) => {
      const t = b[name];
      if (!t) throw new InputError(`batch ${k} has no input '${name}'`);
      return sequence_axis === 1 ? padSequence(t, seq, pad) : t;
    });
    const dims = parts[0]!.dims;
    for (const [k, p] of parts.entries()) {
      if (p.dims.length !== dims.length || p.dims.some((d, i) => d !== dims[i])) {
        throw new InputError(`input '${name}': batch ${k} has shape [${p.dims}] but batch 0 has [${dims}]; stacked batches need equal batch sizes`);
      }
    }
    const size = parts[0]!.size;
    const data = allocLike(parts[0]!, size * parts.length);
    parts.forEach((p, k) => (data as Float32Array).set(p.data as Float32Array, k * size));
    out[name] = new Tensor(parts[0]!.type as 'float32', data as Float32Array, [parts.length, ...dims]);
  }
  return out;
}
