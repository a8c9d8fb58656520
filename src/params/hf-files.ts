/**
 * The Hugging Face files that may sit beside an ONNX file: `config.json` (save_pretrained and optimum both
 * write it) and `model.safetensors` (save_pretrained). They say what the ONNX file cannot: which tensors
 * PyTorch trains and under which names, the labels, the padding token and the architecture.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { floatArray, readSafetensorsFile } from '../export/safetensors.js';
import { bfloat16ToFloat32, float16ToFloat32 } from '../onnx/dtype.js';

/** The config.json fields this project reads; the rest is kept as it is. */
export interface HfConfig {
  model_type?: string;
  architectures?: string[];
  id2label?: Record<string, string>;
  label2id?: Record<string, number>;
  num_labels?: number;
  pad_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  vocab_size?: number;
  max_position_embeddings?: number;
  tie_word_embeddings?: boolean;
  [key: string]: unknown;
}

/** One HF parameter as stored in model.safetensors, as float32. */
export interface HfTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface HfFiles {
  /** The folder they were read from. */
  dir: string;
  config: HfConfig | null;
  configFile: string | null;
  /** model.safetensors' float tensors by HF name, or null when the folder has none. */
  weights: Map<string, HfTensor> | null;
  weightsFile: string | null;
}

function readJson(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message}); fix or remove it`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InputError(`${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}

function readWeights(file: string): Map<string, HfTensor> {
  const { tensors } = readSafetensorsFile(file);
  const out = new Map<string, HfTensor>();
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32' && t.dtype !== 'F64' && t.dtype !== 'F16' && t.dtype !== 'BF16') continue; // buffers such as position_ids
    let data: Float32Array;
    // F32: a view into the file's buffer where aligned (safetensors' header is padded for it), no copy.
    if (t.dtype === 'F32') data = floatArray(t) as Float32Array;
    else if (t.dtype === 'F64') data = Float32Array.from(floatArray(t));
    else {
      const halves = new Uint16Array(new Uint8Array(t.bytes).buffer);
      const decode = t.dtype === 'BF16' ? bfloat16ToFloat32 : float16ToFloat32;
      data = Float32Array.from(halves, decode);
    }
    out.set(name, { name, shape: t.shape, data });
  }
  return out;
}

/**
 * The HF files of `dir` (default: the ONNX file's folder, then its parent, which is where optimum's
 * `onnx/model.onnx` layout and transformers.js's keep them). Missing files give nulls, never an error.
 */
export function findHfFiles(onnxFile: string, dir?: string, options: { weights?: boolean } = {}): HfFiles {
  const candidates = dir ? [dir] : [path.dirname(onnxFile), path.dirname(path.dirname(path.resolve(onnxFile)))];
  if (dir && !fs.existsSync(dir)) throw new InputError(`--hf-model ${dir}: no such folder`);
  for (const d of candidates) {
    const configFile = path.join(d, 'config.json');
    const weightsFile = path.join(d, 'model.safetensors');
    const hasConfig = fs.existsSync(configFile);
    const hasWeights = fs.existsSync(weightsFile);
    if (!hasConfig && !hasWeights) {
      if (dir) throw new InputError(`--hf-model ${dir}: neither config.json nor model.safetensors in it`);
      continue;
    }
    return {
      dir: d,
      config: hasConfig ? (readJson(configFile) as HfConfig) : null,
      configFile: hasConfig ? configFile : null,
      // Reading a base-size model.safetensors costs a second or two: only discovery needs its values.
      weights: hasWeights && options.weights !== false ? readWeights(weightsFile) : null,
      weightsFile: hasWeights ? weightsFile : null,
    };
  }
  return { dir: path.dirname(onnxFile), config: null, configFile: null, weights: null, weightsFile: null };
}

/** The padding id a config gives (pad_token_id, else the first eos_token_id, as HF pads causal LMs). */
/** The position table's size under each family's name for it (GPT-2: n_positions, older configs: n_ctx). */
export function positionTable(c: Record<string, unknown> | null): number | undefined {
  return [c?.max_position_embeddings, c?.n_positions, c?.n_ctx].find((v): v is number => typeof v === 'number');
}

export function configPadId(config: HfConfig | null): number | null {
  if (!config) return null;
  if (typeof config.pad_token_id === 'number') return config.pad_token_id;
  const eos = config.eos_token_id;
  if (typeof eos === 'number') return eos;
  if (Array.isArray(eos) && typeof eos[0] === 'number') return eos[0];
  return null;
}
