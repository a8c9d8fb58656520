/**
 * Data rows -> training examples for a task. A row is either
 *   raw text:       `text` (the text field) and optionally a second text (the text-pair field), tokenized
 *                   here; for token-cls `tokens` (a list of words) with `labels` (one per word);
 *   pre-tokenized:  `input_ids` (list of ints), optionally `attention_mask` and `token_type_ids`.
 * and carries its label(s):
 *   seq-cls:   the label field (default 'label', else 'labels'): an int id or a label name;
 *   token-cls: 'labels' (default; else 'label'): one per token (pre-tokenized) or per word (`tokens` rows;
 *              aligned to the word's first sub-token, the others get -100, as HF's run_ner.py does);
 *   causal-lm: none (the batches use the input ids).
 * Label names map to ids through the model's id2label / label2id or an explicit list. A missing or null
 * label (or -100) is "unlabeled": label -100, allowed only with `allowUnlabeled` (a distillation transfer
 * set, where the teacher's logits are the only target). CSV values are strings: "1" is read as the int 1
 * unless it is a label name, and list fields may be written as JSON ("[2, 17, 3]").
 * Errors name the file and line: `FILE:LINE: ...`.
 */
import { InputError } from '../errors.js';
import type { Task } from '../losses/distill.js';
import type { TextTokenizer } from './text-tokenizer.js';

export type { Task };

/** The label id of positions / rows that do not count (PyTorch's ignore_index). */
export const IGNORE = -100;

/** One data row and the 1-based line of the file where it starts (data/reader.ts reads them from files). */
export interface RowAt {
  row: Record<string, unknown>;
  line: number;
}

/** One example, ready for batching. Lengths of all per-token arrays are equal. */
export interface Example {
  input_ids: number[];
  /** Only when the row gave one (pre-tokenized); otherwise all ones. */
  attention_mask?: number[];
  token_type_ids?: number[];
  /** seq-cls: class id, or -100 when unlabeled. */
  label?: number;
  /** token-cls: one per token, -100 for special tokens, continuation sub-tokens and unlabeled rows. */
  labels?: number[];
  /** Line of the row in its file. */
  line: number;
}

/** The classes of a classifier: `count` ids, with names where known. */
export interface LabelSet {
  count: number;
  /** names[id]; null when the model has none. */
  names: string[] | null;
}

/** The parts of the `distill.json` sidecar that describe labels. */
export interface LabelSidecar {
  num_labels?: number | null;
  id2label?: Record<string, string> | null;
  label2id?: Record<string, number> | null;
}

/**
 * The label set of a model: from an explicit list of names (`--labels ham,spam`), else the sidecar's
 * id2label (or label2id), with `num_labels` as the count.
 */
export function labelSet(sidecar: LabelSidecar, explicit?: readonly string[], where = 'distill.json'): LabelSet {
  const n = sidecar.num_labels ?? undefined;
  if (explicit && explicit.length > 0) {
    if (n !== undefined && explicit.length !== n) {
      throw new InputError(`the label list has ${explicit.length} names (${explicit.join(', ')}) but the model has ${n} labels`);
    }
    if (new Set(explicit).size !== explicit.length) throw new InputError(`the label list has a name twice (${explicit.join(', ')})`);
    return { count: explicit.length, names: [...explicit] };
  }
  let names: string[] | null = null;
  if (sidecar.id2label) {
    const entries = Object.entries(sidecar.id2label);
    const count = n ?? entries.length;
    names = Array.from({ length: count }, (_, i) => {
      const name = sidecar.id2label![String(i)];
      if (name === undefined) throw new InputError(`${where}: id2label has no name for label ${i}`);
      return name;
    });
  } else if (sidecar.label2id) {
    const count = n ?? Object.keys(sidecar.label2id).length;
    names = new Array<string>(count);
    for (const [name, id] of Object.entries(sidecar.label2id)) {
      if (!Number.isInteger(id) || id < 0 || id >= count) throw new InputError(`${where}: label2id gives '${name}' the id ${id}, outside 0..${count - 1}`);
      names[id] = name;
    }
    for (let i = 0; i < count; i++) if (names[i] === undefined) throw new InputError(`${where}: label2id has no name for label ${i}`);
  }
  const count = n ?? names?.length;
  if (count === undefined) throw new InputError(`${where}: the model has no num_labels or id2label`);
  return { count, names };
}

export interface ExampleOptions {
  task: Task;
  /** The data file, for messages. */
  file: string;
  /** Needed for raw-text rows. */
  tokenizer?: TextTokenizer;
  /** Truncate every example to this many tokens (special tokens included). */
  maxLength?: number;
  /** Raw-text field (default 'text'). */
  textField?: string;
  /** Optional second text (sentence pairs). */
  textPairField?: string;
  /** Label field; default 'label' or, if the row has none, 'labels' (token-cls: the other way round). */
  labelField?: string;
  /** token-cls word-list field (default 'tokens'). */
  wordsField?: string;
  /** Classifier labels (seq-cls, token-cls). */
  labels?: LabelSet;
  /** Rows without a label become label -100 instead of an error (a distillation transfer set). */
  allowUnlabeled?: boolean;
  /** Check pre-tokenized ids against it. */
  vocabSize?: number;
}

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'string' ? 'a string' : `a ${typeof v}`);

/** Truncates a per-token list to `maxLength` (when given). */
const truncate = <T>(xs: T[], maxLength: number | undefined): T[] => (maxLength !== undefined && xs.length > maxLength ? xs.slice(0, maxLength) : xs);

/** The fields of one row, read with errors that name the file and line (`FILE:LINE: ...`). */
class RowReader {
  readonly at: string;

  constructor(
    readonly row: Record<string, unknown>,
    readonly line: number,
    file: string,
  ) {
    this.at = `${file}:${line}`;
  }

  fail(msg: string): never {
    throw new InputError(`${this.at}: ${msg}`);
  }

  /** The row's field names, for messages that say what the row does have. */
  fields(): string {
    return Object.keys(this.row).join(', ') || 'none';
  }

  need(name: string): unknown {
    if (!(name in this.row)) this.fail(`no field '${name}' (fields: ${this.fields()})`);
    return this.row[name];
  }

  /** A list field: a JSON array, or (CSV) a string holding a JSON array or space-separated values. */
  listOf(name: string, value: unknown, what: string): unknown[] {
    let v = value;
    if (typeof v === 'string') {
      const s = v.trim();
      if (s.startsWith('[')) {
        try {
          v = JSON.parse(s);
        } catch {
          this.fail(`field '${name}' is not a valid JSON list`);
        }
      } else v = s === '' ? [] : s.split(/\s+/);
    }
    if (!Array.isArray(v)) return this.fail(`field '${name}' must be a list of ${what}, found ${kindOf(v)}`);
    return v;
  }

  intList(name: string, value: unknown): number[] {
    return this.listOf(name, value, 'integers').map((x) => {
      const n = typeof x === 'string' && /^-?\d+$/.test(x) ? Number(x) : x;
      if (typeof n !== 'number' || !Number.isInteger(n)) this.fail(`field '${name}' must be a list of integers, found ${JSON.stringify(x)}`);
      return n as number;
    });
  }
}

/** An example with its inputs set, and what labelling it needs to know about how they were made. */
interface ExampleInputs {
  example: Example;
  /** Rows of words: the word of each token (null for special tokens), to put word labels on first sub-tokens. */
  wordIds: (number | null)[] | null;
  words: string[];
  /** Pre-tokenized rows: the length before truncation, which per-token labels must match. */
  fullLength: number;
}

const needTokenizer = (reader: RowReader, opts: ExampleOptions): TextTokenizer => opts.tokenizer ?? reader.fail('raw text rows need a tokenizer (tokenizer.json)');

/** The inputs of a row: pre-tokenized `input_ids`, token-cls words, or raw text (and a pair). */
function exampleInputs(reader: RowReader, opts: ExampleOptions): ExampleInputs {
  const wordsField = opts.wordsField ?? 'tokens';
  const example: Example = { input_ids: [], line: reader.line };
  if ('input_ids' in reader.row) return { example, wordIds: null, words: [], fullLength: preTokenizedInputs(reader, opts, example) };
  if (opts.task === 'token-cls' && wordsField in reader.row) {
    const words = reader.listOf(wordsField, reader.row[wordsField], 'words') as string[];
    if (words.some((w) => typeof w !== 'string')) reader.fail(`field '${wordsField}' must be a list of words (strings)`);
    const enc = needTokenizer(reader, opts).encodeWords(words, opts.maxLength);
    example.input_ids = enc.ids;
    example.token_type_ids = enc.typeIds;
    return { example, wordIds: enc.wordIds, words, fullLength: 0 };
  }
  textInputs(reader, opts, example);
  return { example, wordIds: null, words: [], fullLength: 0 };
}

/** Sets the example's inputs from `input_ids` (and the optional mask and type ids); returns their length before truncation. */
function preTokenizedInputs(reader: RowReader, opts: ExampleOptions, example: Example): number {
  const all = reader.intList('input_ids', reader.row.input_ids);
  const fullLength = all.length;
  example.input_ids = truncate(all, opts.maxLength);
  if (example.input_ids.length === 0) reader.fail(`field 'input_ids' is empty`);
  if (opts.vocabSize !== undefined) {
    for (const id of example.input_ids) {
      if (id < 0 || id >= opts.vocabSize) reader.fail(`token id ${id} is outside the vocabulary (0..${opts.vocabSize - 1})`);
    }
  }
  for (const name of ['attention_mask', 'token_type_ids'] as const) {
    if (reader.row[name] === undefined || reader.row[name] === null) continue;
    const v = reader.intList(name, reader.row[name]);
    if (v.length !== fullLength) reader.fail(`field '${name}' has ${v.length} values but 'input_ids' has ${fullLength}`);
    example[name] = truncate(v, opts.maxLength);
  }
  return fullLength;
}

/** Sets the example's inputs by tokenizing the text field (and the pair field, when configured). */
function textInputs(reader: RowReader, opts: ExampleOptions, example: Example): void {
  const textField = opts.textField ?? 'text';
  if (opts.task === 'token-cls' && !(textField in reader.row)) reader.fail(`no field 'input_ids' or '${opts.wordsField ?? 'tokens'}' (fields: ${reader.fields()})`);
  const text = reader.need(textField);
  if (typeof text !== 'string') reader.fail(`field '${textField}' must be a string, found ${kindOf(text)}`);
  let pair: string | null = null;
  if (opts.textPairField !== undefined) {
    const p = reader.need(opts.textPairField);
    if (typeof p !== 'string') reader.fail(`field '${opts.textPairField}' must be a string, found ${kindOf(p)}`);
    pair = p as string;
  }
  const enc = needTokenizer(reader, opts).encode(text as string, pair, opts.maxLength);
  example.input_ids = enc.ids;
  example.token_type_ids = enc.typeIds;
}

/** The label fields to look for when none is configured, the task's usual one first. */
const labelFieldOrder = (task: Task): string[] => (task === 'token-cls' ? ['labels', 'label'] : ['label', 'labels']);

function labelField(row: Record<string, unknown>, opts: ExampleOptions): string | null {
  if (opts.labelField !== undefined) return opts.labelField in row ? opts.labelField : null;
  return labelFieldOrder(opts.task).find((f) => f in row) ?? null;
}

/** The row's label, or null when it has none (a missing, null or empty field). */
function labelValue(reader: RowReader, opts: ExampleOptions): { field: string; value: unknown } | null {
  const row = reader.row;
  const f = labelField(row, opts);
  if (f === null || row[f] === null || row[f] === undefined || row[f] === '') return null;
  return { field: f, value: row[f] };
}

function checkUnlabeledAllowed(reader: RowReader, opts: ExampleOptions): void {
  if (opts.allowUnlabeled) return;
  const f = opts.labelField ?? labelFieldOrder(opts.task)[0];
  reader.fail(`no label; field '${f}' is missing, empty or -100 (fields: ${reader.fields()}); unlabeled rows are only allowed in a distillation transfer set`);
}

const needLabelSet = (reader: RowReader, opts: ExampleOptions): LabelSet => opts.labels ?? reader.fail(`the model has no label set (num_labels / id2label) for task ${opts.task}`);

/** seq-cls: the row's class id, or -100 when unlabeled (and that is allowed). */
function seqClsLabel(reader: RowReader, opts: ExampleOptions): number {
  const lv = labelValue(reader, opts);
  if (lv === null) {
    checkUnlabeledAllowed(reader, opts);
    return IGNORE;
  }
  const label = resolveLabel(lv.value, needLabelSet(reader, opts), reader.at, true);
  if (label === IGNORE) checkUnlabeledAllowed(reader, opts);
  return label;
}

/** token-cls: one label per token, from per-token labels (pre-tokenized) or per-word labels (on each word's first sub-token). */
function tokenClsLabels(reader: RowReader, opts: ExampleOptions, inputs: ExampleInputs): number[] {
  const lv = labelValue(reader, opts);
  if (lv === null) {
    checkUnlabeledAllowed(reader, opts);
    return new Array<number>(inputs.example.input_ids.length).fill(IGNORE);
  }
  const { wordIds, words, fullLength } = inputs;
  if (wordIds === null && !('input_ids' in reader.row)) reader.fail(`per-word labels need the words in field '${opts.wordsField ?? 'tokens'}' (or pre-tokenized 'input_ids'), not raw text`);
  const set = needLabelSet(reader, opts);
  const ids = reader.listOf(lv.field, lv.value, 'labels').map((v) => (v === null ? IGNORE : resolveLabel(v, set, reader.at, true)));
  if (wordIds) {
    if (ids.length !== words.length) reader.fail(`${words.length} words but ${ids.length} labels`);
    let prev: number | null = null;
    return wordIds.map((w) => {
      const first = w !== null && w !== prev;
      prev = w;
      return first ? ids[w!]! : IGNORE;
    });
  }
  if (ids.length !== fullLength) reader.fail(`field '${lv.field}' has ${ids.length} labels but 'input_ids' has ${fullLength} tokens`);
  return truncate(ids, opts.maxLength);
}

/** Converts rows to examples lazily. */
export async function* toExamples(rows: AsyncIterable<RowAt> | Iterable<RowAt>, opts: ExampleOptions): AsyncGenerator<Example> {
  for await (const { row, line } of rows) yield toExample(row, line, opts);
}

/** One row -> one example (see the module comment for the accepted shapes). */
export function toExample(row: Record<string, unknown>, line: number, opts: ExampleOptions): Example {
  const reader = new RowReader(row, line, opts.file);
  const inputs = exampleInputs(reader, opts);
  const ex = inputs.example;
  if (opts.task === 'causal-lm') return ex;
  if (opts.task === 'seq-cls') ex.label = seqClsLabel(reader, opts);
  else ex.labels = tokenClsLabels(reader, opts, inputs);
  return ex;
}

/**
 * A label value -> class id: an int (or a string of one) in [0, count), or a label name. -100 passes
 * through as "ignored" when `allowIgnore`.
 */
export function resolveLabel(value: unknown, set: LabelSet, at: string, allowIgnore = false): number {
  if (typeof value === 'string') {
    const byName = set.names?.indexOf(value) ?? -1;
    if (byName >= 0) return byName;
    const s = value.trim();
    if (/^-?\d+$/.test(s)) return resolveLabel(Number(s), set, at, allowIgnore);
    const known = set.names ? `known: ${set.names.join(', ')}` : `the model has no label names; use ids 0..${set.count - 1}`;
    throw new InputError(`${at}: unknown label '${value}' (${known})`);
  }
  if (typeof value === 'number' && Number.isInteger(value)) {
    if (value === IGNORE && allowIgnore) return IGNORE;
    if (value < 0 || value >= set.count) {
      throw new InputError(`${at}: label ${value} is outside the model's ${set.count} labels (0..${set.count - 1})`);
    }
    return value;
  }
  throw new InputError(`${at}: label ${JSON.stringify(value)} is neither a class id nor a label name`);
}
