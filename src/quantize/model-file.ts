/**
 * `distill quantize`'s file side: reads an fp32 ONNX model, quantizes it (src/quantize/dynamic.ts) and writes
 * `model_quantized.onnx` into the output folder, plus `onnx/model_quantized.onnx`, the file transformers.js
 * loads for `dtype: 'q8'`. The source's sidecar goes along as `model_quantized.distill.json` (so `distill eval`
 * knows the task and labels), and config/tokenizer files are copied when the folder lacks them. The written
 * graph has short internal names unless `keepNames` is set; the report names nodes as the source model does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { readSidecar } from '../export/student.js';
import { compactNames } from '../onnx/compact-names.js';
import { loadModel, saveModel } from '../onnx/model-io.js';
import { findHfFiles } from '../params/hf-files.js';
import { writeFileAtomic } from '../util/fs.js';
import { type QuantizeOptions, type QuantizeReport, quantizeDynamic } from './dynamic.js';

export const QUANTIZED_NAME = 'model_quantized.onnx';

/** Files a model folder needs beside the ONNX file to be loaded (by `distill eval`, transformers, transformers.js). */
const FOLDER_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/** Above this the protobuf limit (2 GB) is near: tensors go to an external data file. */
const INLINE_LIMIT = 1.8e9;

export interface QuantizeFileOptions extends QuantizeOptions {
  model: string;
  outDir: string;
  /**
   * Keep the export's value and node names and its per-node metadata (default false: internal values and
   * nodes get short names, src/onnx/compact-names.ts; inputs, outputs and weights keep theirs).
   */
  keepNames?: boolean;
}

export interface QuantizeFileResult {
  report: QuantizeReport;
  /** The quantized model at the folder's top. */
  model: string;
  files: string[];
  bytesBefore: number;
  bytesAfter: number;
}

const fileBytes = (files: string[]) => files.reduce((n, f) => n + fs.statSync(f).size, 0);

export function quantizeModelFile(o: QuantizeFileOptions): QuantizeFileResult {
  if (!fs.existsSync(o.model)) throw new InputError(`${o.model}: ONNX model does not exist`);
  const loaded = loadModel(o.model);
  const bytesBefore = fileBytes([o.model, ...loaded.externalFiles.map((f) => path.join(path.dirname(o.model), f))]);
  const report = quantizeDynamic(loaded.model, o);
  if (report.quantized.MatMul.length + report.quantized.Gemm.length + report.quantized.Gather.length === 0) {
    const half = report.skipped.map((s) => /constant (float16|bfloat16) tensor/.exec(s.why)?.[1]).find(Boolean);
    if (half) throw new InputError(`${o.model}: its weights are ${half}; distill quantize reads float32 weights, so quantize the float32 export (before .half())`);
    throw new InputError(`${o.model}: no MatMul or Gemm with a constant weight to quantize (is this already a quantized model?)`);
  }
  if (!o.keepNames) compactNames(loaded.model);
  fs.mkdirSync(path.join(o.outDir, 'onnx'), { recursive: true });
  const top = path.join(o.outDir, QUANTIZED_NAME);
  const nested = path.join(o.outDir, 'onnx', QUANTIZED_NAME);
  const external = bytesBefore / 3.5 > INLINE_LIMIT;
  const files: string[] = [];
  for (const file of [top, nested]) {
    saveModel(loaded.model, file, { externalData: external });
    files.push(file, ...(external ? [`${file}_data`] : []));
  }
  const side = readSidecar(o.model);
  if (side) {
    const sidecar = path.join(o.outDir, 'model_quantized.distill.json');
    const quantization = { form: report.form, weights: 'int8, symmetric, per output channel', activations: 'uint8, per tensor, at run time', embeddings: report.quantized.Gather.length > 0, names: o.keepNames ? 'as exported' : 'compact', source: path.basename(o.model) };
    writeFileAtomic(sidecar, `${JSON.stringify({ ...side, quantization }, null, 2)}\n`);
    files.push(sidecar);
  }
  // The model's own folder, then the folder its config.json is in (one up in optimum's onnx/ layout);
  // only the folder is wanted, so model.safetensors is not read.
  const srcDirs = [...new Set([path.dirname(o.model), findHfFiles(o.model, undefined, { weights: false }).dir])];
  for (const name of FOLDER_FILES) {
    const src = srcDirs.map((d) => path.join(d, name)).find((f) => fs.existsSync(f));
    const dst = path.join(o.outDir, name);
    if (!src || fs.existsSync(dst)) continue;
    if (name === 'config.json' && !fs.existsSync(path.join(o.outDir, 'onnx', 'model.onnx'))) {
      // A folder holding the int8 model alone: transformers.js loads the dtype config.json names when the
      // caller names none, and 'fp32' would send it after an onnx/model.onnx that is not there.
      writeFileAtomic(dst, `${JSON.stringify(withDefaultDtype(src, 'q8'), null, 2)}\n`);
    } else {
      fs.copyFileSync(src, dst);
    }
    files.push(dst);
  }
  return { report, model: top, files, bytesBefore, bytesAfter: fileBytes(external ? [top, `${top}_data`] : [top]) };
}

/** config.json with transformers.js_config.dtype set (what `pipeline(task, folder)` loads by default). */
function withDefaultDtype(configFile: string, dtype: string): Record<string, unknown> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${configFile}: invalid JSON (${(e as Error).message})`);
  }
  const js = config['transformers.js_config'];
  config['transformers.js_config'] = { ...(js !== null && typeof js === 'object' && !Array.isArray(js) ? js : {}), dtype };
  return config;
}
