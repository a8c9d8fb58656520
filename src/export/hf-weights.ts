/**
 * The trained weights as a Hugging Face checkpoint: `model.safetensors` with the ORIGINAL HF parameter names,
 * so `AutoModelFor...from_pretrained(folder)` loads them (scripts/tools/check_hf_weights.py proves it).
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
import { loadModel } from '../onnx/model-io.js';
import { type HfTensor, hfStateDict } from './hf-state-dict.js';
import { writeSafetensors } from './safetensors.js';
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

export type { HfTensor } from './hf-state-dict.js';
export { transpose2d } from './hf-state-dict.js';

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

/** Writes `<outDir>/model.safetensors` (see the module comment). */
export function exportHfWeights(options: HfWeightsOptions): HfWeightsResult {
  const { model: file, outDir } = options;
  const loaded = loadModel(file);
  if (options.parameters) setInitializers(loaded.model, options.parameters, file);
  const side = readSidecar(file);
  const out = path.join(outDir, 'model.safetensors');

  const sidecarName = path.basename(sidecarPath(file));
  const { tensors, entries, omittedTied, note } = hfStateDict(loaded.model, side, { file, sidecar: side ? sidecarPath(file) : sidecarName, tiedNames: options.tiedNames });
  writeSafetensors(out, tensors, { format: 'pt' });
  const copied = copyCompanions(path.dirname(file), outDir);
  return { file: out, naming: side ? 'hf' : 'onnx', note, tensors: entries, omittedTied, copied };
}
