/** Running IR models in onnxruntime-node from tests. */
import ort from 'onnxruntime-node';
import { encodeModel } from '../../src/onnx/model-io.js';
import type { Model } from '../../src/ir/convert.js';
import { modelToProto } from '../../src/ir/convert.js';

export type Feed = Record<string, ort.Tensor>;

export async function session(model: Model | Uint8Array): Promise<ort.InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(modelToProto(model));
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
}

export function tensor(dtype: 'float32' | 'float64' | 'int64' | 'bool' | 'int32', dims: number[], data: ArrayLike<number>): ort.Tensor {
  switch (dtype) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from(data), dims);
    case 'float64': return new ort.Tensor('float64', Float64Array.from(data), dims);
    case 'int32': return new ort.Tensor('int32', Int32Array.from(data), dims);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from(Array.from(data), (x) => BigInt(x)), dims);
    case 'bool': return new ort.Tensor('bool', Uint8Array.from(data), dims);
  }
}

export function toNumbers(t: ort.Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}
