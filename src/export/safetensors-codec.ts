/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping tensor names to
 * {dtype, shape, data_offsets}, then the raw little-endian data. Bytes in, bytes out, no files: Node
 * (safetensors.ts) and the browser (web/) share it.
 */
import { InputError } from '../errors.js';

export type SafeDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  /** Raw little-endian bytes (a view into the file buffer). */
  bytes: Uint8Array;
}

const WIDTH: Record<SafeDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Tensors and the string metadata map (`__metadata__`) of safetensors bytes; `file` names them in errors. */
export function parseSafetensors(buf: Uint8Array, file: string): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  if (buf.length < 8) throw new InputError(`${file}: too short to be a safetensors file`);
  const headerLen = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > buf.length - 8) throw new InputError(`${file}: safetensors header length ${headerLen} exceeds the file`);
  let header: Record<string, { dtype: SafeDtype; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + headerLen)));
  } catch {
    throw new InputError(`${file}: safetensors header is not valid JSON`);
  }
  const base = 8 + headerLen;
  const out = new Map<string, SafeTensor>();
  const metadata = ((header as Record<string, unknown>).__metadata__ ?? {}) as Record<string, string>;
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (typeof t !== 'object' || t === null || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) {
      throw new InputError(`${file}: tensor '${name}' lacks dtype, shape or data_offsets in the safetensors header`);
    }
    const [a, b] = t.data_offsets;
    if (!(t.dtype in WIDTH)) throw new InputError(`${file}: tensor '${name}' has unsupported dtype ${t.dtype}`);
    const count = t.shape.reduce((n: number, d: unknown) => (Number.isSafeInteger(d) && (d as number) >= 0 ? n * (d as number) : NaN), 1);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 0 || b - a !== count * WIDTH[t.dtype]) {
      throw new InputError(`${file}: tensor '${name}' has data_offsets [${t.data_offsets}] that do not fit its shape [${t.shape}]`);
    }
    if (base + b > buf.length) throw new InputError(`${file}: tensor '${name}' extends past the end of the file`);
    out.set(name, { dtype: t.dtype, shape: t.shape, bytes: buf.subarray(base + a, base + b) });
  }
  return { tensors: out, metadata };
}

/** Decodes a float tensor (F32/F64) to numbers. */
export function safeToFloat64(t: SafeTensor): Float64Array {
  // A copy, aligned for the typed-array view (t.bytes is a view at any offset into the file buffer).
  const copy = new Uint8Array(t.bytes);
  if (t.dtype === 'F32') return Float64Array.from(new Float32Array(copy.buffer));
  if (t.dtype === 'F64') return new Float64Array(copy.buffer);
  if (t.dtype === 'I64') return Float64Array.from(new BigInt64Array(copy.buffer), Number);
  throw new RangeError(`safeToFloat64: dtype ${t.dtype} not supported`);
}

/**
 * An F32 or F64 tensor's bytes as a typed array: a view into the file's buffer where the bytes are aligned
 * (files written by writeSafetensors are: an 8-byte aligned header, and float tensors of whole elements), a
 * copy only where they are not. Copying every tensor would hold a model twice until the file buffer is
 * collected. Writes through the view change the buffer, not the file.
 */
export function floatArray(t: SafeTensor): Float32Array | Float64Array {
  if (t.dtype !== 'F32' && t.dtype !== 'F64') throw new InputError(`expected a float32 or float64 tensor, got ${t.dtype}`);
  const width = t.dtype === 'F64' ? 8 : 4;
  const bytes = t.bytes.byteOffset % width === 0 ? t.bytes : new Uint8Array(t.bytes);
  return t.dtype === 'F64'
    ? new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8)
    : new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

/** Safetensors bytes of tensors (name -> dtype, shape, bytes) with an optional string metadata map. */
export function encodeSafetensors(tensors: Map<string, SafeTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const expected = t.shape.reduce((x, y) => x * y, 1) * WIDTH[t.dtype];
    if (expected !== t.bytes.length) throw new RangeError(`tensor '${name}': ${t.bytes.length} bytes, shape needs ${expected}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header so the data starts 8-byte aligned, as the reference implementation does.
  const padded = new Uint8Array(json.length + ((8 - ((8 + json.length) % 8)) % 8)).fill(0x20);
  padded.set(json);
  json = padded;
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}
