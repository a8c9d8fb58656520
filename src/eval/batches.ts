/**
 * Evaluation batches: the interface the evaluator consumes, and a source built on `src/data/` (row readers,
 * tokenizer, row -> example conversion).
 *
 * TO BE REPLACED: the batching below (examples -> padded int64 ORT tensors) is a stop-gap written while
 * `src/data/` has no batching module yet. When src/data grows one (batches as ORT tensors), `dataBatches`
 * should call it and keep only the label layout the metrics need (`EvalBatch.labels`).
 */
import ort from 'onnxruntime-node';
import { type Example, type LabelSet, type Task, toExamples } from '../data/examples.js';
import { readRows } from '../data/reader.js';
import type { TextTokenizer } from '../data/tokenize.js';
import { InputError } from '../errors.js';
import { IGNORE, causalTargets } from './metrics.js';

/** One batch: every input the data can give, and the labels laid out as the metrics read them. */
export interface EvalBatch {
  /** int64 [B, S] tensors: input_ids, attention_mask, token_type_ids. The evaluator feeds those the model takes. */
  feeds: Record<string, ort.Tensor>;
  /** seq-cls [B]; token-cls [B * S]; causal-lm [B * S] next-token targets (causalTargets). -100 = not counted. */
  labels: Int32Array;
  /** B */
  rows: number;
}

/** Where evaluation batches come from: a data file -> its batches, in file order. */
export type BatchSource = (file: string) => AsyncIterable<EvalBatch>;

export interface DataBatchOptions {
  task: Task;
  tokenizer?: TextTokenizer;
  /** Classifier labels (seq-cls, token-cls): names map to ids through it. */
  labels?: LabelSet;
  batchSize: number;
  /** Truncate examples to this many tokens (special tokens included). */
  maxLength?: number;
  textField?: string;
  textPairField?: string;
  labelField?: string;
  /** Padding token id (the sidecar's pad_token_id; default 0). */
  padId?: number;
  /** Check pre-tokenized ids against it. */
  vocabSize?: number;
}

const int64 = (data: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(data, (x) => BigInt(x)), dims);

/** Pads examples to the longest and lays them out as an EvalBatch. */
export function collate(examples: readonly Example[], task: Task, padId = 0): EvalBatch {
  const B = examples.length;
  const S = Math.max(1, ...examples.map((e) => e.input_ids.length));
  const ids = new Array<number>(B * S).fill(padId);
  const mask = new Array<number>(B * S).fill(0);
  const types = new Array<number>(B * S).fill(0);
  const labels = new Int32Array(task === 'seq-cls' ? B : B * S).fill(IGNORE);
  examples.forEach((e, b) => {
    e.input_ids.forEach((id, t) => {
      ids[b * S + t] = id;
      mask[b * S + t] = e.attention_mask?.[t] ?? 1;
      types[b * S + t] = e.token_type_ids?.[t] ?? 0;
    });
    if (task === 'seq-cls') labels[b] = e.label ?? IGNORE;
    else if (task === 'token-cls') e.labels?.forEach((l, t) => (labels[b * S + t] = l));
  });
  const feeds = { input_ids: int64(ids, [B, S]), attention_mask: int64(mask, [B, S]), token_type_ids: int64(types, [B, S]) };
  return { feeds, labels: task === 'causal-lm' ? causalTargets(ids, mask, B, S) : labels, rows: B };
}

/** A BatchSource over JSONL / CSV / TSV files through src/data (format from the file extension). */
export function dataBatches(options: DataBatchOptions): BatchSource {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new InputError(`--batch-size must be a positive integer, got ${options.batchSize}`);
  return async function* batches(file: string): AsyncGenerator<EvalBatch> {
    const examples = toExamples(readRows(file), {
      task: options.task,
      file,
      tokenizer: options.tokenizer,
      maxLength: options.maxLength,
      textField: options.textField,
      textPairField: options.textPairField,
      labelField: options.labelField,
      labels: options.labels,
      vocabSize: options.vocabSize,
    });
    let group: Example[] = [];
    for await (const ex of examples) {
      group.push(ex);
      if (group.length === options.batchSize) {
        yield collate(group, options.task, options.padId);
        group = [];
      }
    }
    if (group.length > 0) yield collate(group, options.task, options.padId);
  };
}
