/**
 * The trained weights as a Hugging Face checkpoint: `model.safetensors` with the ORIGINAL HF parameter names,
 * so `AutoModelFor...from_pretrained(folder)` loads them (scripts/check_hf_weights.py proves it).
 *
 * Names and layout come from the sidecar's `parameters` map (docs/FIXTURES.md): each initializer becomes
 * its HF name, transposed back where `transpose` is true. Tied weights are written the way HF's
 * `save_pretrained` writes them: once, under the group's first name (the one the map uses, e.g. GPT-2's
 * `transformer.wte.weight`); the other names (`lm_head.weight`) are left out and HF re-ties them on load.
 * (Checked with transformers 5.18: GPT2LMHeadModel.save_pretrained writes 16 tensors for its 17 named
 * parameters, without lm_head.weight.) Every tensor is F32, names sorted, metadata {"format": "pt"}, as HF
 * writes it. Without a sidecar the ONNX initializer names are used, and the result says so.
 */
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { isFloatType } from '../onnx/dtype.js';
import { loadModel } from '../onnx/model-io.js';
import type { TensorProto } from '../onnx/proto.js';
import { tensorDims, tensorToFloat32 } from '../onnx/tensor.js';
import { type SafeTensor, writeSafetensors } from './safetensors.js';
import { type ParameterValues, copyCompanions, readSidecar, setInitializers, sidecarPath } from './student.js';

export interface HfWeightsOptions {
  /** ONNX file whose initializers hold the weights (the student, or a student written by exportStudent). */
  model: string;
  /** Trained values by initializer name, replacing the model's (checked as exportStudent checks them). */
  parameters?: ParameterValues;
  /** Folder for `model.safetensors`; the model folder's config.json and tokenizer files are copied in. */
  outDir: string;
  /**
   * 'hf' (default): tied weights once, under the name HF's save_pretrained keeps. 'all': every name of a
   * tied group (for loaders that do not re-tie, e.g. a strict load_state_dict).
   */
  tiedNames?: 'hf' | 'all';
}

export interface HfTensor {
  /** Name in model.safetensors. */
  name: string;
  /** The ONNX initializer it came from. */
  initializer: string;
  shape: number[];
  transposed: boolean;
}

export interface HfWeightsResult {
  file: string;
  /** 'hf': HF state_dict names from the sidecar; 'onnx': no sidecar, initializer names. */
  naming: 'hf' | 'onnx';
  /** Why the names are not HF's, when they are not. */
  note: string | null;
  tensors: HfTensor[];
  /** Tied names not written (HF re-ties them on load). */
  omittedTied: string[];
  /** Files copied next to it (config.json, tokenizer files). */
  copied: string[];
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

/** Writes `<outDir>/model.safetensors` (see the module comment). */
export function exportHfWeights(options: HfWeightsOptions): HfWeightsResult {
  const { model: file, outDir } = options;
  const loaded = loadModel(file);
  if (options.parameters) setInitializers(loaded.model, options.parameters, file);
  const inits = new Map<string, TensorProto>();
  for (const t of loaded.model.graph!.initializer) if (t.name) inits.set(t.name, t);
  const side = readSidecar(file);
  const out = path.join(outDir, 'model.safetensors');

  const entries: { name: string; data: Float32Array; shape: number[]; t: HfTensor }[] = [];
  const omittedTied: string[] = [];
  let note: string | null = null;
  if (side) {
    const where = sidecarPath(file);
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
      const written = options.tiedNames === 'all' ? names : names.slice(0, 1);
      omittedTied.push(...names.slice(written.length));
      for (const name of written) entries.push({ name, data, shape, t: { name, initializer: init, shape, transposed: m.transpose } });
    }
  } else {
    note = `${file} has no sidecar (${path.basename(sidecarPath(file))}): tensors are named by ONNX initializer (every float initializer), which from_pretrained will not recognize unless the exporter kept the HF names`;
    for (const [init, t] of inits) {
      if (!isFloatType(t.dataType)) continue;
      const shape = tensorDims(t);
      entries.push({ name: init, data: tensorToFloat32(t), shape, t: { name: init, initializer: init, shape, transposed: false } });
    }
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    if (tensors.has(e.name)) throw new InputError(`${sidecarPath(file)}: HF name '${e.name}' is mapped from more than one initializer`);
    tensors.set(e.name, f32Tensor(e.data, e.shape));
  }
  writeSafetensors(out, tensors, { format: 'pt' });
  const copied = copyCompanions(path.dirname(file), outDir);
  return { file: out, naming: side ? 'hf' : 'onnx', note, tensors: entries.map((e) => e.t), omittedTied, copied };
}
