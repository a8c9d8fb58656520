/**
 * A student's weights as Hugging Face's state_dict: names from the sidecar (tied groups once or all), 2-D
 * weights the ONNX graph holds transposed turned back. No files: exportHfWeights (hf-weights.ts) writes it
 * as model.safetensors, and the browser entry point (web/) hands it back as a download.
 */
import { InputError } from '../errors.js';
import { isFloatType } from '../onnx/dtype.js';
import type { ModelProto, TensorProto } from '../onnx/proto.js';
import { tensorDims, tensorToFloat32 } from '../onnx/tensor.js';
import type { SafeTensor } from './safetensors-codec.js';
import type { Sidecar } from './sidecar.js';

export interface HfTensor {
  /** Name in model.safetensors. */
  name: string;
  /** The ONNX initializer it came from. */
  initializer: string;
  shape: number[];
  transposed: boolean;
}

/** [rows, cols] row-major -> its transpose [cols, rows]. */
export function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!;
  return out;
}

const f32Tensor = (data: Float32Array, shape: number[]): SafeTensor => ({
  dtype: 'F32',
  shape,
  bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
});

export interface HfStateDict {
  tensors: Map<string, SafeTensor>;
  entries: HfTensor[];
  /** Tied names not written (HF re-ties them on load). */
  omittedTied: string[];
  /** Why the names are not HF's, when they are not. */
  note: string | null;
}

/**
 * The state_dict of `model`'s initializers; `side` null names tensors by initializer. `names.file` and
 * `at.sidecar` name the model and its sidecar in messages.
 */
export function hfStateDict(model: ModelProto, side: Sidecar | null, at: { file: string; sidecar: string; tiedNames?: 'hf' | 'all' }): HfStateDict {
  const file = at.file;
  const inits = new Map<string, TensorProto>();
  for (const t of model.graph!.initializer) if (t.name) inits.set(t.name, t);
  const entries: { name: string; data: Float32Array; shape: number[]; t: HfTensor }[] = [];
  const omittedTied: string[] = [];
  let note: string | null = null;
  if (side) {
    const where = at.sidecar;
    const groups = new Map<string, string[]>((side.tied ?? []).map((g) => [g[0]!, g]));
    for (const [init, m] of Object.entries(side.parameters)) {
      const t = inits.get(init);
      if (!t) throw new InputError(`${where}: parameter '${init}' is not an initializer of ${file}`);
      if (!isFloatType(t.dataType)) throw new InputError(`${where}: parameter '${init}' is not a float initializer of ${file}`);
      let data = tensorToFloat32(t);
      let shape = tensorDims(t);
      if (m.transpose) {
        if (shape.length !== 2) throw new InputError(`${where}: parameter '${init}' has transpose=true but is ${shape.length}-D, not 2-D`);
        data = transpose2d(data, shape[0]!, shape[1]!);
        shape = [shape[1]!, shape[0]!];
      }
      const names = groups.get(m.name) ?? [m.name];
      const written = at.tiedNames === 'all' ? names : names.slice(0, 1);
      omittedTied.push(...names.slice(written.length));
      for (const name of written) entries.push({ name, data, shape, t: { name, initializer: init, shape, transposed: m.transpose } });
    }
  } else {
    note = `${file} has no sidecar (${at.sidecar}): tensors are named by ONNX initializer (every float initializer), which from_pretrained will not recognize unless the exporter kept the HF names`;
    for (const [init, t] of inits) {
      if (!isFloatType(t.dataType)) continue;
      const shape = tensorDims(t);
      entries.push({ name: init, data: tensorToFloat32(t), shape, t: { name: init, initializer: init, shape, transposed: false } });
    }
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    if (tensors.has(e.name)) throw new InputError(`${at.sidecar}: HF name '${e.name}' is mapped from more than one initializer`);
    tensors.set(e.name, f32Tensor(e.data, e.shape));
  }
  return { tensors, entries: entries.map((e) => e.t), omittedTied, note };
}
