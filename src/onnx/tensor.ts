/**
 * Reading and making TensorProto values. Tensors keep their bytes as protobuf gave them (raw_data views into
 * the file buffer, or the typed fields) so unchanged weights are never copied; these helpers decode on demand.
 */
import { ModelFormatError } from '../errors.js';
import { DataType, bfloat16ToFloat32, bitsPerElement, byteSize, dtypeName, float16ToFloat32 } from './dtype.js';
import { type TensorProto, toBigInt, toNumber } from './proto.js';

export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array;

export function tensorDims(t: TensorProto): number[] {
  return t.dims.map(toNumber);
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === 1;
}

/** Typed-array constructor for element types that have a natural JS array (others decode via bytes). */
function arrayTypeOf(dt: DataType) {
  switch (dt) {
    case DataType.FLOAT: case DataType.COMPLEX64: return Float32Array;
    case DataType.DOUBLE: case DataType.COMPLEX128: return Float64Array;
    case DataType.INT8: return Int8Array;
    case DataType.UINT8: case DataType.BOOL: return Uint8Array;
    case DataType.INT16: return Int16Array;
    case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16: return Uint16Array;
    case DataType.INT32: return Int32Array;
    case DataType.UINT32: return Uint32Array;
    case DataType.INT64: return BigInt64Array;
    case DataType.UINT64: return BigUint64Array;
    default: return Uint8Array;
  }
}

/**
 * The tensor's contents as little-endian bytes, the raw_data layout. For raw_data tensors this is a view, not
 * a copy. Typed-field tensors are converted (int32_data carries 8/16-bit ints, bools and float16 bit patterns).
 */
export function tensorBytes(t: TensorProto): Uint8Array {
  const dt = t.dataType as DataType;
  if (isExternal(t)) {
    throw new ModelFormatError(`tensor '${t.name}': external data was not loaded; load the model with its data file`);
  }
  if (dt === DataType.STRING) throw new ModelFormatError(`tensor '${t.name}': string tensors have no raw bytes`);
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  const count = dt === DataType.COMPLEX64 || dt === DataType.COMPLEX128 ? 2 * elementCount(tensorDims(t)) : elementCount(tensorDims(t));
  const nbytes = dt === DataType.COMPLEX64 || dt === DataType.COMPLEX128 ? count * (bitsPerElement(dt) / 16) : byteSize(dt, count);
  const out = new Uint8Array(nbytes);
  const view = new DataView(out.buffer);
  if (t.floatData.length) t.floatData.forEach((v, i) => view.setFloat32(4 * i, v, true));
  else if (t.doubleData.length) t.doubleData.forEach((v, i) => view.setFloat64(8 * i, v, true));
  else if (t.int64Data.length) t.int64Data.forEach((v, i) => view.setBigInt64(8 * i, toBigInt(v), true));
  else if (t.uint64Data.length) {
    if (dt === DataType.UINT32) t.uint64Data.forEach((v, i) => view.setUint32(4 * i, Number(toBigInt(v, true)), true));
    else t.uint64Data.forEach((v, i) => view.setBigUint64(8 * i, toBigInt(v, true), true));
  } else if (t.int32Data.length) {
    const bits = bitsPerElement(dt);
    if (bits === 6 && t.int32Data.length === count) {
      // float6: onnx.helper writes one element per int32_data entry; raw_data packs them 6 bits each, low bits first.
      t.int32Data.forEach((v, i) => {
        const bit = 6 * i;
        const code = v & 0x3f;
        out[bit >> 3] |= (code << (bit & 7)) & 0xff;
        if ((bit & 7) > 2) out[(bit >> 3) + 1] |= code >> (8 - (bit & 7));
      });
      return out;
    }
    t.int32Data.forEach((v, i) => {
      if (bits === 32) view.setInt32(4 * i, v, true);
      else if (bits === 16) view.setUint16(2 * i, v & 0xffff, true);
      else if (bits === 8) view.setUint8(i, v & 0xff);
      else out.set([v & 0xff], i); // sub-byte types store packed bytes in int32_data
    });
  } else if (count > 0) {
    throw new ModelFormatError(`tensor '${t.name}' (${dtypeName(dt)}, ${count} elements) has no data`);
  }
  return out;
}

/** The tensor as a typed array of its element type (a view where alignment allows, else a copy). */
export function tensorArray(t: TensorProto): TypedArray {
  const bytes = tensorBytes(t);
  const Ctor = arrayTypeOf(t.dataType as DataType);
  const size = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size);
  // Copy into a fresh aligned buffer. (Not bytes.slice(): on a Node Buffer that is a view, not a copy.)
  return new Ctor(new Uint8Array(bytes).buffer as ArrayBuffer);
}

/** Float tensors (float, double, float16, bfloat16) decoded to float32. */
export function tensorToFloat32(t: TensorProto): Float32Array {
  const dt = t.dataType as DataType;
  const a = tensorArray(t);
  switch (dt) {
    case DataType.FLOAT: return a as Float32Array;
    case DataType.DOUBLE: return Float32Array.from(a as Float64Array);
    case DataType.FLOAT16: return Float32Array.from(a as Uint16Array, float16ToFloat32);
    case DataType.BFLOAT16: return Float32Array.from(a as Uint16Array, bfloat16ToFloat32);
    default: throw new ModelFormatError(`tensor '${t.name}' is ${dtypeName(dt)}, not a float tensor`);
  }
}

/** Integer tensors as JS numbers (int64 past 2^53 throws: those are not shapes or indices). */
export function tensorToNumbers(t: TensorProto): number[] {
  const a = tensorArray(t);
  if (a instanceof BigInt64Array || a instanceof BigUint64Array) {
    return Array.from(a, (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n)) throw new RangeError(`tensor '${t.name}': ${v} does not fit a JS number`);
      return n;
    });
  }
  if (t.dataType === DataType.FLOAT16) return Array.from(a as Uint16Array, float16ToFloat32);
  if (t.dataType === DataType.BFLOAT16) return Array.from(a as Uint16Array, bfloat16ToFloat32);
  return Array.from(a as ArrayLike<number>);
}

function emptyTensor(): TensorProto {
  return {
    dims: [], dataType: 0, floatData: [], int32Data: [], stringData: [], int64Data: [], externalData: [],
    doubleData: [], uint64Data: [], metadataProps: [],
  };
}

/** A tensor with its data in raw_data. `data` is referenced, not copied. */
export function makeTensor(name: string, dataType: DataType, dims: readonly number[], data: TypedArray | Uint8Array): TensorProto {
  const t = emptyTensor();
  t.name = name;
  t.dataType = dataType;
  t.dims = [...dims];
  t.rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return t;
}

export function makeStringTensor(name: string, dims: readonly number[], values: readonly string[]): TensorProto {
  const t = emptyTensor();
  t.name = name;
  t.dataType = DataType.STRING;
  t.dims = [...dims];
  t.stringData = values.map((s) => new TextEncoder().encode(s));
  return t;
}

/** Scalar or 1-D constant tensors, the common case when building graphs. */
export function scalarTensor(name: string, dataType: DataType, value: number): TensorProto {
  return makeTensor(name, dataType, [], typedFromNumbers(dataType, [value]));
}

export function typedFromNumbers(dataType: DataType, values: readonly number[]): TypedArray {
  switch (dataType) {
    case DataType.FLOAT: return Float32Array.from(values);
    case DataType.DOUBLE: return Float64Array.from(values);
    case DataType.INT64: return BigInt64Array.from(values, (v) => BigInt(v));
    case DataType.INT32: return Int32Array.from(values);
    case DataType.BOOL: case DataType.UINT8: return Uint8Array.from(values);
    case DataType.INT8: return Int8Array.from(values);
    default: throw new RangeError(`typedFromNumbers: ${dtypeName(dataType)} is not supported`);
  }
}
