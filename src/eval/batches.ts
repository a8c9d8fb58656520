/**
 * Evaluation batches: the interface the evaluator consumes, and a source built on `src/data/` (row readers,
 * tokenizer, row -> example conversion, collation into padded int64 tensors), read once in file order.
 */
import { streamBatches } from '../data/batches.js';
import { type LabelSet, type Task, toExamples } from '../data/examples.js';
import { readRows } from '../data/reader.js';
import type { TextTokenizer } from '../data/tokenize.js';
import type { Batch } from '../runtime/batch.js';
import type ort from 'onnxruntime-node';
import { causalTargets } from './metrics.js';

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

/** Every input the data can build; the evaluator feeds those the model takes. */
export const EVAL_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;

/**
 * A collated batch (src/data `collate`, with labels) as the metrics read it: causal-lm labels become the
 * next-token targets (causalTargets), classifier labels a flat Int32Array.
 */
export function toEvalBatch(batch: Batch, task: Task): EvalBatch {
  const { labels, ...feeds } = batch;
  const ids = feeds.input_ids!;
  const [B, S] = ids.dims as [number, number];
  const targets = task === 'causal-lm'
    ? causalTargets(ids.data as BigInt64Array, (feeds.attention_mask?.data as BigInt64Array | undefined) ?? null, B, S)
    : Int32Array.from(labels!.data as BigInt64Array, Number);
  return { feeds, labels: targets, rows: B };
}

/** A BatchSource over JSONL / CSV / TSV files through src/data (format from the file extension). */
export function dataBatches(options: DataBatchOptions): BatchSource {
  const { task, batchSize } = options;
  return async function* batches(file: string): AsyncGenerator<EvalBatch> {
    const examples = () => toExamples(readRows(file), {
      task,
      file,
      tokenizer: options.tokenizer,
      maxLength: options.maxLength,
      textField: options.textField,
      textPairField: options.textPairField,
      labelField: options.labelField,
      labels: options.labels,
      vocabSize: options.vocabSize,
    });
    const plan = { batchSize, shuffle: false, seed: 0 };
    for await (const p of streamBatches(examples, plan, { task, padId: options.padId ?? 0, inputs: EVAL_INPUTS }, undefined, 1)) {
      yield toEvalBatch(p.batch, task);
    }
  };
}
