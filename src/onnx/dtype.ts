/** ONNX tensor element types (TensorProto.DataType) and what we need to know about each. */

export enum DataType {
  UNDEFINED = 0, FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7, STRING = 8,
  BOOL = 9, FLOAT16 = 10, DOUBLE = 11, UINT32 = 12, UINT64 = 13, COMPLEX64 = 14, COMPLEX128 = 15, BFLOAT16 = 16,
  FLOAT8E4M3FN = 17, FLOAT8E4M3FNUZ = 18, FLOAT8E5M2 = 19, FLOAT8E5M2FNUZ = 20, UINT4 = 21, INT4 = 22,
  FLOAT4E2M1 = 23, FLOAT8E8M0 = 24, UINT2 = 25, INT2 = 26, FLOAT6E2M3 = 27, FLOAT6E3M2 = 28,
}

/** Bits per element in raw_data (sub-byte types are packed, low bits first). 0 for STRING. */
export function bitsPerElement(t: DataType): number {
  switch (t) {
    case DataType.BOOL: case DataType.UINT8: case DataType.INT8: case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ: case DataType.FLOAT8E5M2: case DataType.FLOAT8E5M2FNUZ: case DataType.FLOAT8E8M0:
      return 8;
    case DataType.UINT16: case DataType.INT16: case DataType.FLOAT16: case DataType.BFLOAT16:
      return 16;
    case DataType.FLOAT: case DataType.INT32: case DataType.UINT32:
      return 32;
    case DataType.DOUBLE: case DataType.INT64: case DataType.UINT64: case DataType.COMPLEX64:
      return 64;
    case DataType.COMPLEX128:
      return 128;
    case DataType.UINT4: case DataType.INT4: case DataType.FLOAT4E2M1:
      return 4;
    case DataType.UINT2: case DataType.INT2:
      return 2;
    case DataType.FLOAT6E2M3: case DataType.FLOAT6E3M2:
      return 6;
    default:
      return 0;
  }
}

/** The name users know from numpy/torch (float32, int64, ...), or `dtype(N)` for unknown codes. */
export function dtypeName(t: number): string {
  if (t === DataType.FLOAT) return 'float32';
  if (t === DataType.DOUBLE) return 'float64';
  return DataType[t] !== undefined ? DataType[t].toLowerCase() : `dtype(${t})`;
}

/** The element type `dtypeName` calls `name`. */
export function dtypeFromName(name: string): DataType {
  if (name === 'float32') return DataType.FLOAT;
  if (name === 'float64') return DataType.DOUBLE;
  const t = (DataType as unknown as Record<string, number>)[name.toUpperCase()];
  if (t === undefined) throw new Error(`unknown element type '${name}'`);
  return t;
}

export const isFloatType = (t: number): boolean =>
  t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16 || t === DataType.BFLOAT16;

/** Bytes needed for `count` elements of type `t` in raw_data (sub-byte types round up). */
export function byteSize(t: DataType, count: number): number {
  return Math.ceil((bitsPerElement(t) * count) / 8);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 -> float16 bits with round-to-nearest-even, as numpy and torch do. */
export function float32ToFloat16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  e = half;
  return sign | e;
}

export function bfloat16ToFloat32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

export function float32ToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
