/**
 * The training run's output folder as a Hugging Face model folder: PyTorch `transformers` reads
 * config.json + model.safetensors at the top, transformers.js reads config.json, tokenizer.json,
 * tokenizer_config.json and `onnx/model.onnx`. Both load the folder as it is (docs/EXPORT.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { loadModel } from '../onnx/model-io.js';
import { writeFileAtomic } from '../util/fs.js';
import { positionTable } from '../params/hf-files.js';

export interface ModelFolderOptions {
  outDir: string;
  /** The trained ONNX student, already at <outDir>/model.onnx (maybe with <outDir>/model.onnx_data). */
  model: string;
  /** Folders to take config.json and tokenizer files from, in priority order (the student's own folder, then the HF model folder). Missing files are skipped. */
  sources: string[];
  task: 'seq-cls' | 'token-cls' | 'causal-lm';
  /** Label names in id order for classifiers (config.json gets id2label, label2id, num_labels from them). */
  labels?: string[] | null;
}

export interface ModelFolderResult {
  files: string[];
  warnings: string[];
}

type Json = Record<string, unknown>;

/** Copied as they are from the first source that has them. */
const COPIED = ['tokenizer.json', 'special_tokens_map.json', 'generation_config.json'];

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

export function writeModelFolder(o: ModelFolderOptions): ModelFolderResult {
  const { outDir } = o;
  const files: string[] = [];
  const warnings: string[] = [];
  if (!fs.existsSync(o.model)) throw new InputError(`${o.model}: no trained model to put in ${outDir}; export the student there first`);
  // The first source holding a file wins. outDir itself may be a source (a previous copy there); reading
  // before writing keeps that safe.
  const find = (name: string) => o.sources.map((d) => path.join(d, name)).find((f) => fs.existsSync(f));

  // The ONNX model under onnx/, with the external data files it names (relative to the model, so a
  // byte copy next to it resolves the same way).
  const onnxDir = path.join(outDir, 'onnx');
  const external = loadModel(o.model, { loadExternalData: false }).externalFiles;
  copyAtomic(o.model, path.join(onnxDir, 'model.onnx'));
  files.push(path.join(onnxDir, 'model.onnx'));
  for (const f of external) {
    copyAtomic(path.join(path.dirname(o.model), f), path.join(onnxDir, f));
    files.push(path.join(onnxDir, f));
  }
  // A data file left by an earlier run with external data would otherwise sit next to an inline model.
  if (!external.includes('model.onnx_data')) fs.rmSync(path.join(onnxDir, 'model.onnx_data'), { force: true });
  // transformers.js (outside Node) fetches only `model.onnx_data`, `model.onnx_data_1`, ... and only when
  // config.json says how many; Node's onnxruntime resolves any relative name itself.
  const chunks = external.every((f, i) => f === `model.onnx_data${i ? `_${i}` : ''}`) ? external.length : -1;
  if (chunks < 0) warnings.push(`${o.model}: external data in ${external.join(', ')}; transformers.js in a browser only fetches model.onnx_data (Node loads it as is)`);

  const configFile = find('config.json');
  let config: Json | null = null;
  if (!configFile) {
    warnings.push(`${outDir}: no config.json in ${o.sources.join(', ') || '(no source folders)'}; transformers and transformers.js need it to load the folder: pass --hf-model with the student's Hugging Face folder`);
  } else {
    config = readJson(configFile);
    if (o.task !== 'causal-lm' && o.labels?.length) setLabels(config, o.labels);
    setTransformersJsConfig(config, Math.max(chunks, 0));
    if (typeof config.model_type !== 'string') warnings.push(`${configFile}: no model_type; transformers.js picks the model class by it`);
    writeJson(path.join(outDir, 'config.json'), config);
    files.push(path.join(outDir, 'config.json'));
  }

  for (const name of COPIED) {
    if (name === 'generation_config.json' && o.task !== 'causal-lm') continue;
    const src = find(name);
    if (!src) continue;
    writeFileAtomic(path.join(outDir, name), fs.readFileSync(src));
    files.push(path.join(outDir, name));
  }

  const tokenizerFile = find('tokenizer.json');
  const tokenizerConfig = find('tokenizer_config.json');
  if (tokenizerConfig) {
    writeFileAtomic(path.join(outDir, 'tokenizer_config.json'), fs.readFileSync(tokenizerConfig));
    files.push(path.join(outDir, 'tokenizer_config.json'));
  } else if (tokenizerFile) {
    // transformers.js only loads a tokenizer whose folder has tokenizer_config.json (it probes for that file).
    writeJson(path.join(outDir, 'tokenizer_config.json'), makeTokenizerConfig(readJson(tokenizerFile), config ?? {}));
    files.push(path.join(outDir, 'tokenizer_config.json'));
  } else {
    warnings.push(`${outDir}: no tokenizer.json in ${o.sources.join(', ') || '(no source folders)'}; pipelines need the tokenizer: pass --hf-model or copy it there`);
  }
  return { files, warnings };
}

/** Names in id order -> id2label, label2id, num_labels (what HF's classifiers and pipelines read). */
function setLabels(config: Json, labels: string[]): void {
  const label2id: Record<string, number> = {};
  labels.forEach((l, i) => {
    if (l in label2id) throw new InputError(`labels: '${l}' appears twice (ids ${label2id[l]} and ${i}); give each label once`);
    label2id[l] = i;
  });
  config.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  config.label2id = label2id;
  config.num_labels = labels.length;
}

/**
 * Our folder holds exactly one ONNX file, the float model: tell transformers.js so (`dtype: 'fp32'`, else a
 * browser asks for model_quantized.onnx) and whether it has external data, replacing whatever the source
 * config said about the files it came with.
 */
function setTransformersJsConfig(config: Json, chunks: number): void {
  const js: Json = isObject(config['transformers.js_config']) ? { ...config['transformers.js_config'] } : {};
  js.dtype = 'fp32';
  const ext: Json = isObject(js.use_external_data_format) ? { ...js.use_external_data_format } : {};
  delete ext.model;
  delete ext['model.onnx'];
  if (chunks > 0) ext['model.onnx'] = chunks === 1 ? true : chunks;
  if (Object.keys(ext).length) js.use_external_data_format = ext;
  else delete js.use_external_data_format;
  config['transformers.js_config'] = js;
}

/** Matched against the contents of tokenizer.json's special added tokens. */
const SPECIAL: [string, RegExp][] = [
  ['cls_token', /^(\[CLS\]|<cls>)$/i],
  ['sep_token', /^(\[SEP\]|<sep>)$/i],
  ['pad_token', /^(\[PAD\]|<pad>|<\|pad\|>)$/i],
  ['unk_token', /^(\[UNK\]|<unk>|<\|unk\|>|<\|endoftext\|>)$/i],
  ['mask_token', /^(\[MASK\]|<mask>)$/i],
  ['bos_token', /^(<s>|<bos>|<\|startoftext\|>|<\|begin_of_text\|>|<\|endoftext\|>)$/i],
  ['eos_token', /^(<\/s>|<eos>|<\|end_of_text\|>|<\|endoftext\|>)$/i],
];

/**
 * A tokenizer_config.json like the one transformers 5 saves for a tokenizers-backed tokenizer. The
 * tokenizer itself (normalizer, pre-tokenizer, template) comes from tokenizer.json; this file names the
 * special tokens (transformers.js reads pad/unk/... from here, not from tokenizer.json) and the length
 * its pipelines truncate to. `TokenizersBackend` is the generic class in both libraries.
 */
function makeTokenizerConfig(tok: Json, config: Json): Json {
  const out: Json = { backend: 'tokenizers', tokenizer_class: 'TokenizersBackend' };
  const added = (Array.isArray(tok.added_tokens) ? tok.added_tokens : []).filter(isObject);
  const byId = new Map<number, string>();
  const model = isObject(tok.model) ? tok.model : {};
  if (isObject(model.vocab)) for (const [t, id] of Object.entries(model.vocab)) if (typeof id === 'number') byId.set(id, t);
  for (const t of added) if (typeof t.id === 'number' && typeof t.content === 'string') byId.set(t.id, t.content);

  for (const t of added) {
    if (t.special !== true || typeof t.content !== 'string') continue;
    for (const [key, re] of SPECIAL) if (re.test(t.content) && !(key in out)) out[key] = t.content;
  }
  if (typeof model.unk_token === 'string') out.unk_token = model.unk_token;
  // BERT/RoBERTa post-processors name their [CLS]/[SEP] (RoBERTa's are <s> and </s>).
  const post = isObject(tok.post_processor) ? tok.post_processor : {};
  for (const key of ['cls', 'sep'] as const) {
    const v = post[key];
    if (Array.isArray(v) && typeof v[0] === 'string') out[`${key}_token`] = v[0];
  }
  // The model's own ids decide where config.json has them (a GPT-2 student may use [CLS]/[SEP] as bos/eos).
  for (const key of ['bos', 'eos', 'pad'] as const) {
    const id = config[`${key}_token_id`];
    if (typeof id === 'number' && byId.has(id)) out[`${key}_token`] = byId.get(id);
  }
  const positions = positionTable(config);
  if (positions !== undefined) {
    // RoBERTa-style position ids start after the padding id: 514 positions hold 512 tokens.
    const offset = typeof config.model_type === 'string' && /roberta|camembert/.test(config.model_type) && typeof config.pad_token_id === 'number' ? config.pad_token_id + 1 : 0;
    out.model_max_length = positions - offset;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

function readJson(file: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message}); fix or remove it`);
  }
  if (!isObject(v)) throw new InputError(`${file}: expected a JSON object; fix or remove it`);
  return v;
}

function writeJson(file: string, v: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(v, null, 2)}\n`);
}

/** Like writeFileAtomic, without holding a model of any size in memory. */
function copyAtomic(src: string, dst: string): void {
  if (!fs.existsSync(src)) throw new InputError(`${src}: does not exist; the model refers to it as external data, so export the model again`);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  const tmp = path.join(path.dirname(dst), `.${path.basename(dst)}.tmp-${process.pid}`);
  fs.copyFileSync(src, tmp);
  const fd = fs.openSync(tmp, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, dst);
}
