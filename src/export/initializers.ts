/**
 * Writing trained values into a ModelProto's initializers, without files: exportStudent (student.ts) and the
 * browser entry point (web/) share it.
 */
import { InputError } from '../errors.js';
import { DataType, dtypeName, float32ToBfloat16, float32ToFloat16 } from '../onnx/dtype.js';
import type { ModelProto, TensorProto } from '../onnx/proto.js';
import { elementCount, tensorDims } from '../onnx/tensor.js';

/** Trained values by ONNX initializer name (TrainerSession.parameterArrays() gives this). */
export type ParameterValues = ReadonlyMap<string, Float32Array | Float64Array>;

/**
 * Checks `values` against the initializers of `model` and writes them in (raw_data, the initializer's own
 * element type). Unknown names, non-float initializers, wrong sizes and non-finite values are InputErrors
 * naming the parameter. Returns the names replaced.
 */
export function setInitializers(model: ModelProto, values: ParameterValues, source: string): string[] {
  const inits = new Map<string, TensorProto>();
  for (const t of model.graph!.initializer) if (t.name) inits.set(t.name, t);
  const replaced: string[] = [];
  for (const [name, data] of values) {
    const t = inits.get(name);
    if (!t) throw new InputError(`parameter '${name}' is not an initializer of ${source}`);
    const dims = tensorDims(t);
    const n = elementCount(dims);
    if (data.length !== n) {
      throw new InputError(`parameter '${name}': ${data.length} values, but ${source} has it as [${dims.join(', ')}] (${n} values)`);
    }
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw new InputError(`parameter '${name}' has a non-finite value (${data[i]}) at index ${i}; the training diverged`);
    }
    // Only the data fields change (loadModel already resolved external data; setting data_location to its
    // default here would add a field to the encoding).
    t.rawData = encodeFloats(t, data, source);
    if (t.floatData.length) t.floatData = [];
    if (t.doubleData.length) t.doubleData = [];
    if (t.int32Data.length) t.int32Data = [];
    replaced.push(name);
  }
  return replaced;
}

function encodeFloats(t: TensorProto, data: Float32Array | Float64Array, source: string): Uint8Array {
  const bytes = (a: Float32Array | Float64Array | Uint16Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  switch (t.dataType as DataType) {
    case DataType.FLOAT: return bytes(data instanceof Float32Array ? data.slice() : Float32Array.from(data));
    case DataType.DOUBLE: return bytes(Float64Array.from(data));
    case DataType.FLOAT16: return bytes(Uint16Array.from(data, float32ToFloat16));
    case DataType.BFLOAT16: return bytes(Uint16Array.from(data, float32ToBfloat16));
    default:
      throw new InputError(`parameter '${t.name}' is a ${dtypeName(t.dataType)} initializer of ${source}, not a float tensor`);
  }
}
