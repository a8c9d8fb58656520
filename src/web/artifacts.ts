/**
 * An artifacts folder as the browser reads it: the manifest, the prepared student's sidecar, the initial
 * parameters, and the optional companions a web run needs beside what 'distill build' writes (the teacher as
 * `teacher.onnx`, `tokenizer.json`, data as `train.jsonl`/`eval.jsonl`: `distill web` lays the demo out so).
 */
import { InputError } from '../errors.js';
import { floatArray, parseSafetensors } from '../export/safetensors-codec.js';
import type { Sidecar } from '../export/sidecar.js';
import { type Manifest, STUDENT_FILE, parseManifest } from '../step/contract.js';
import { TextTokenizer } from '../data/text-tokenizer.js';
import type { Ort, Tensor } from './session.js';
import { type FileSource, readText } from './source.js';

/** Names of the companion files inside a web artifacts folder. */
export const WEB_FILES = {
  manifest: 'manifest.json',
  teacher: 'teacher.onnx',
  tokenizer: 'tokenizer.json',
  train: 'train.jsonl',
  eval: 'eval.jsonl',
  sidecar: STUDENT_FILE.replace(/\.onnx$/, '.distill.json'),
} as const;

async function readJson(source: FileSource, name: string): Promise<unknown> {
  const text = await readText(source, name);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source.description}${name}: not valid JSON (${(e as Error).message})`);
  }
}

/** The manifest, checked by the contract's own reader (the fields the runtimes read). */
export async function readWebManifest(source: FileSource): Promise<Manifest> {
  return parseManifest(await readText(source, WEB_FILES.manifest), `${source.description}${WEB_FILES.manifest}`);
}

export async function readSidecarFrom(source: FileSource): Promise<Sidecar> {
  if (!(await source.has(WEB_FILES.sidecar))) throw new InputError(`${source.description}: no ${WEB_FILES.sidecar}; drop the whole folder 'distill build' wrote`);
  return (await readJson(source, WEB_FILES.sidecar)) as Sidecar;
}

/** The initial parameters as tensors of `ort`, shaped as the step models take them (`ioShape ?? shape`). */
export async function readInitialParameters(ort: Ort, source: FileSource, manifest: Manifest): Promise<Map<string, Tensor>> {
  const file = `${source.description}${manifest.initial_state}`;
  const { tensors } = parseSafetensors(await source.read(manifest.initial_state), file);
  const out = new Map<string, Tensor>();
  for (const p of manifest.parameters) {
    const t = tensors.get(p.name);
    if (!t) throw new InputError(`${file}: parameter '${p.name}' is missing; rebuild the artifacts with 'distill build'`);
    const data = floatArray(t);
    if ((data instanceof Float64Array) !== (p.dtype === 'float64')) throw new InputError(`${file}: parameter '${p.name}' is ${t.dtype}, the manifest says ${p.dtype}`);
    const dims = p.ioShape ?? p.shape;
    // A copy: the step's outputs replace these tensors, and the file's buffer should not stay alive for them.
    out.set(p.name, data instanceof Float64Array ? new ort.Tensor('float64', data.slice(), dims) : new ort.Tensor('float32', data.slice(), dims));
  }
  return out;
}

export async function readTokenizerFrom(source: FileSource, vocabRows?: number): Promise<TextTokenizer> {
  const name = WEB_FILES.tokenizer;
  if (!(await source.has(name))) throw new InputError(`${source.description}: no ${name}; put the student's tokenizer.json in the folder`);
  const tok = TextTokenizer.fromJSON(await readJson(source, name), `${source.description}${name}`);
  if (vocabRows !== undefined) tok.checkVocab(vocabRows);
  return tok;
}

/** A JSONL file's rows with their 1-based line numbers (blank lines skipped). */
export function parseJsonl(text: string, file: string): { row: Record<string, unknown>; line: number }[] {
  const rows: { row: Record<string, unknown>; line: number }[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(l);
    } catch {
      throw new InputError(`${file}:${i + 1}: not a JSON object; each line of a .jsonl file is one row`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new InputError(`${file}:${i + 1}: not a JSON object; each line of a .jsonl file is one row`);
    rows.push({ row: row as Record<string, unknown>, line: i + 1 });
  });
  if (rows.length === 0) throw new InputError(`${file}: no rows`);
  return rows;
}

/** The files of an artifacts folder that a browser run reads: what the manifest names, and the companions present. */
export async function artifactFiles(source: FileSource, manifest: Manifest): Promise<string[]> {
  const m = manifest.models;
  const named = [WEB_FILES.manifest, m.train_step, m.eval, m.fetch_state, m.fetch_metrics, manifest.initial_state, STUDENT_FILE, WEB_FILES.sidecar];
  const companions = [WEB_FILES.teacher, WEB_FILES.tokenizer, WEB_FILES.train, WEB_FILES.eval];
  const present = await Promise.all(companions.map(async (f) => ((await source.has(f)) ? f : null)));
  return [...named, ...present].filter((f): f is string => typeof f === 'string');
}
