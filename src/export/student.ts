/**
 * Exporting a trained student: its OWN inference graph (the file it was trained from: same inputs, outputs,
 * nodes, opsets and metadata) with the trained values written into its initializers. Nothing but the
 * initializers' data changes, so the result runs wherever the original did (onnxruntime-node/-web, and
 * transformers.js when laid out as a HF repo: docs/EXPORT.md).
 *
 * Also home of the `distill.json` sidecar reader (docs/FIXTURES.md), which the HF weight export and the
 * evaluator use.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { loadModel, saveModel } from '../onnx/model-io.js';
import { writeFileAtomic } from '../util/fs.js';

import { type ParameterValues, setInitializers } from './initializers.js';

export { type ParameterValues, setInitializers } from './initializers.js';

import type { Sidecar } from './sidecar.js';

export type { Sidecar } from './sidecar.js';

/** `X.onnx` -> `X.distill.json`, except `model.onnx` -> `distill.json`. */
export function sidecarPath(onnxFile: string): string {
  const dir = path.dirname(onnxFile);
  const base = path.basename(onnxFile).replace(/\.onnx$/, '');
  return path.join(dir, base === 'model' ? 'distill.json' : `${base}.distill.json`);
}

/** The sidecar next to an ONNX file, or null when there is none. */
export function readSidecar(onnxFile: string): Sidecar | null {
  const file = sidecarPath(onnxFile);
  if (!fs.existsSync(file)) return null;
  let side: Sidecar;
  try {
    side = JSON.parse(fs.readFileSync(file, 'utf8')) as Sidecar;
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (side === null || typeof side !== 'object' || typeof side.parameters !== 'object' || side.parameters === null) {
    throw new InputError(`${file}: not a distill.json sidecar (no 'parameters' map)`);
  }
  return side;
}

export interface ExportStudentOptions {
  /** The student's inference ONNX file (external data is read from its folder). */
  student: string;
  /** Trained values by initializer name; initializers not named keep their values. */
  parameters: ParameterValues;
  /** Output .onnx file (its folder is created). */
  out: string;
  /**
   * Write the weights to `<out>_data` next to the model (what torch, HF and transformers.js call
   * `model.onnx_data`). Default: as the student was stored.
   */
  externalData?: boolean;
  /**
   * Label names in id order when the run chose them (`--labels`): the copied sidecar then states them, so
   * `distill eval` of the output reads the names it was trained with, not the student's old ones.
   */
  labels?: readonly string[] | null;
}

export interface ExportedStudent {
  model: string;
  /** The external data file written, or null. */
  externalData: string | null;
  /** Initializers whose values were replaced. */
  replaced: string[];
  /** Files copied from the student's folder (tokenizer, sidecar, HF config). */
  copied: string[];
}

/** Files of the student's folder that travel with it (when present). */
export const COMPANIONS = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'config.json', 'generation_config.json'];

/** Copies the COMPANIONS present in `fromDir` to `toDir`; returns the files written. */
export function copyCompanions(fromDir: string, toDir: string): string[] {
  const copied: string[] = [];
  if (path.resolve(fromDir) === path.resolve(toDir)) return copied;
  fs.mkdirSync(toDir, { recursive: true });
  for (const f of COMPANIONS) {
    const src = path.join(fromDir, f);
    if (!fs.existsSync(src)) continue;
    fs.copyFileSync(src, path.join(toDir, f));
    copied.push(path.join(toDir, f));
  }
  return copied;
}

/**
 * Writes the student's inference graph with the trained parameters, and copies `tokenizer.json`, the
 * sidecar (renamed for the output file) and the HF config files next to it.
 */
export function exportStudent(options: ExportStudentOptions): ExportedStudent {
  const { student, out } = options;
  if (path.resolve(student) === path.resolve(out)) throw new InputError(`${out}: would overwrite the student it is exported from; choose another path`);
  const loaded = loadModel(student);
  const replaced = setInitializers(loaded.model, options.parameters, student);
  const external = options.externalData ?? loaded.externalFiles.length > 0;
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const location = `${path.basename(out)}_data`;
  saveModel(loaded.model, out, external ? { externalData: { location, threshold: 1024 } } : {});

  const copied: string[] = [];
  if (fs.existsSync(sidecarPath(student)) && path.resolve(sidecarPath(student)) !== path.resolve(sidecarPath(out))) {
    if (options.labels?.length) {
      const side = JSON.parse(fs.readFileSync(sidecarPath(student), 'utf8')) as Sidecar;
      side.id2label = Object.fromEntries(options.labels.map((l, i) => [String(i), l]));
      side.label2id = Object.fromEntries(options.labels.map((l, i) => [l, i]));
      side.num_labels = options.labels.length;
      writeFileAtomic(sidecarPath(out), `${JSON.stringify(side, null, 2)}\n`);
    } else {
      fs.copyFileSync(sidecarPath(student), sidecarPath(out));
    }
    copied.push(sidecarPath(out));
  }
  copied.push(...copyCompanions(path.dirname(student), path.dirname(out)));
  return { model: out, externalData: external ? path.join(path.dirname(out), location) : null, replaced, copied };
}
