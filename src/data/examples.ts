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

/** Converts rows to examples lazily. */
export async function* toExamples(rows: AsyncIterable<RowAt> | Iterable<RowAt>, opts: ExampleOptions): AsyncGenerator<Example> {
  for await (const { row, line } of rows) yield toExample(row, line, opts);
}

/** One row -> one example (see the module comment for the accepted shapes). */
export function toExample(row: Record<string, unknown>, line: number, opts: ExampleOptions): Example {
  const at = `${opts.file}:${line}`;
  const fail = (msg: string): never => {
    throw new InputError(`${at}: ${msg}`);
  };
  const fields = () => Object.keys(row).join(', ') || 'none';
  const need = (name: string): unknown => {
    if (!(name in row)) fail(`no field '${name}' (fields: ${fields()})`);
    return row[name];
  };
  /** A list field: a JSON array, or (CSV) a string holding a JSON array or space-separated values. */
  const listOf = (name: string, value: unknown, what: string): unknown[] => {
    let v = value;
    if (typeof v === 'string') {
      const s = v.trim();
      if (s.startsWith('[')) {
        try {
          v = JSON.parse(s);
        } catch {
          fail(`field '${name}' is not a valid JSON list`);
        }
      } else v = s === '' ? [] : s.split(/\s+/);
    }
    if (!Array.isArray(v)) return fail(`field '${name}' must be a list of ${what}, found ${kindOf(v)}`);
    return v;
  };
  const intList = (name: string, value: unknown): number[] =>
    listOf(name, value, 'integers').map((x) => {
      const n = typeof x === 'string' && /^-?\d+$/.test(x) ? Number(x) : x;
      if (typeof n !== 'number' || !Number.isInteger(n)) fail(`field '${name}' must be a list of integers, found ${JSON.stringify(x)}`);
      return n as number;
    });
  const maxLength = opts.maxLength;
  const cut = <T>(xs: T[]): T[] => (maxLength !== undefined && xs.length > maxLength ? xs.slice(0, maxLength) : xs);
  const tokenizer = (): TextTokenizer => opts.tokenizer ?? fail('raw text rows need a tokenizer (tokenizer.json)');

  const task = opts.task;
  const labelField = (): string | null => {
    if (opts.labelField !== undefined) return opts.labelField in row ? opts.labelField : null;
    const order = task === 'token-cls' ? ['labels', 'label'] : ['label', 'labels'];
    return order.find((f) => f in row) ?? null;
  };
  const labelValue = (): { field: string; value: unknown } | null => {
    const f = labelField();
    if (f === null || row[f] === null || row[f] === undefined || row[f] === '') return null;
    return { field: f, value: row[f] };
  };
  const unlabeled = () => {
    if (!opts.allowUnlabeled) {
      const f = opts.labelField ?? (task === 'token-cls' ? 'labels' : 'label');
      fail(`no label; field '${f}' is missing, empty or -100 (fields: ${fields()}); unlabeled rows are only allowed in a distillation transfer set`);
    }
  };
  const labels = (): LabelSet => opts.labels ?? fail(`the model has no label set (num_labels / id2label) for task ${task}`);

  const ex: Example = { input_ids: [], line };

  // --- inputs ---------------------------------------------------------------------------------------
  const wordsField = opts.wordsField ?? 'tokens';
  let wordIds: (number | null)[] | null = null;
  let words: string[] = [];
  let fullLength = 0; // pre-tokenized: the length before truncation
  if ('input_ids' in row) {
    const all = intList('input_ids', row.input_ids);
    fullLength = all.length;
    ex.input_ids = cut(all);
    if (ex.input_ids.length === 0) fail(`field 'input_ids' is empty`);
    if (opts.vocabSize !== undefined) {
      for (const id of ex.input_ids) {
        if (id < 0 || id >= opts.vocabSize) fail(`token id ${id} is outside the vocabulary (0..${opts.vocabSize - 1})`);
      }
    }
    for (const name of ['attention_mask', 'token_type_ids'] as const) {
      if (row[name] === undefined || row[name] === null) continue;
      const v = intList(name, row[name]);
      if (v.length !== fullLength) fail(`field '${name}' has ${v.length} values but 'input_ids' has ${fullLength}`);
      ex[name] = cut(v);
    }
  } else if (task === 'token-cls' && wordsField in row) {
    words = listOf(wordsField, row[wordsField], 'words') as string[];
    if (words.some((w) => typeof w !== 'string')) fail(`field '${wordsField}' must be a list of words (strings)`);
    const enc = tokenizer().encodeWords(words, maxLength);
    ex.input_ids = enc.ids;
    ex.token_type_ids = enc.typeIds;
    wordIds = enc.wordIds;
  } else {
    const textField = opts.textField ?? 'text';
    if (task === 'token-cls' && !(textField in row)) fail(`no field 'input_ids' or '${wordsField}' (fields: ${fields()})`);
    const text = need(textField);
    if (typeof text !== 'string') fail(`field '${textField}' must be a string, found ${kindOf(text)}`);
    let pair: string | null = null;
    if (opts.textPairField !== undefined) {
      const p = need(opts.textPairField);
      if (typeof p !== 'string') fail(`field '${opts.textPairField}' must be a string, found ${kindOf(p)}`);
      pair = p as string;
    }
    const enc = tokenizer().encode(text as string, pair, maxLength);
    ex.input_ids = enc.ids;
    ex.token_type_ids = enc.typeIds;
  }

  // --- labels ---------------------------------------------------------------------------------------
  if (task === 'causal-lm') return ex;
  const lv = labelValue();
  if (task === 'seq-cls') {
    if (lv === null) {
      unlabeled();
      ex.label = IGNORE;
    } else {
      ex.label = resolveLabel(lv.value, labels(), at, true);
      if (ex.label === IGNORE) unlabeled();
    }
    return ex;
  }
  // token-cls
  const n = ex.input_ids.length;
  if (lv === null) {
    unlabeled();
    ex.labels = new Array<number>(n).fill(IGNORE);
    return ex;
  }
  if (wordIds === null && !('input_ids' in row)) fail(`per-word labels need the words in field '${wordsField}' (or pre-tokenized 'input_ids'), not raw text`);
  const set = labels();
  const ids = listOf(lv.field, lv.value, 'labels').map((v) => (v === null ? IGNORE : resolveLabel(v, set, at, true)));
  if (wordIds) {
    if (ids.length !== words.length) fail(`${words.length} words but ${ids.length} labels`);
    let prev: number | null = null;
    ex.labels = wordIds.map((w) => {
      const first = w !== null && w !== prev;
      prev = w;
      return first ? ids[w!]! : IGNORE;
    });
  } else {
    if (ids.length !== fullLength) fail(`field '${lv.field}' has ${ids.length} labels but 'input_ids' has ${fullLength} tokens`);
    ex.labels = cut(ids);
  }
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
