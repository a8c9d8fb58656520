/** A model's float weights as arrays, and seeded perturbations of them (export tests write these back). */
import { readSidecar } from '../../src/export/student.js';
import { isFloatType } from '../../src/onnx/dtype.js';
import { loadModel } from '../../src/onnx/model-io.js';
import { tensorDims, tensorToFloat32 } from '../../src/onnx/tensor.js';
import { rng } from './rng.js';

/** The float initializers of a model by name, as float32 (copies). */
export function initializers(file: string): Map<string, { data: Float32Array; dims: number[] }> {
  const out = new Map<string, { data: Float32Array; dims: number[] }>();
  for (const t of loadModel(file).model.graph!.initializer) {
    if (isFloatType(t.dataType)) out.set(t.name!, { data: Float32Array.from(tensorToFloat32(t)), dims: tensorDims(t) });
  }
  return out;
}

/** Every sidecar parameter plus 0.01 * seeded uniform noise in [-1, 1). */
export function noisy(file: string, seed = 11): Map<string, Float32Array> {
  const side = readSidecar(file)!;
  const inits = initializers(file);
  const r = rng(seed);
  return new Map(Object.keys(side.parameters).map((n) => [n, inits.get(n)!.data.map((v) => v + 0.01 * (2 * r() - 1))]));
}
