/** The training (or evaluation) file as the trainer reads it: every row validated up front, then batches per epoch. */
import { type BatchPlan, type CollateOptions, type DataPosition, type PositionedBatch, arrayBatches, streamBatches } from '../data/batches.js';
import { type Example, type ExampleOptions, IGNORE, toExample, toExamples } from '../data/examples.js';
import { readRows } from '../data/reader.js';
import { InputError } from '../errors.js';
import { InputsDigest } from './teacher.js';

/**
 * Training examples, held in memory (shuffled per epoch by a seeded permutation) or streamed from the file
 * every epoch (`--streaming`, or automatically for files over STREAM_ABOVE_BYTES: shuffled through a
 * seeded buffer), so a dataset larger than memory trains.
 */
export interface TrainingData {
  file: string;
  count: number;
  /** Digest of every example's token ids (the teacher-cache key's view of the data). */
  inputsDigest: string;
  /** Examples with a label (seq-cls) or at least one labeled token (token-cls); causal LMs: every example. */
  labeled: number;
  batches(plan: BatchPlan, collate: CollateOptions, start: DataPosition, epochs: number): AsyncIterable<PositionedBatch>;
}

export const STREAM_ABOVE_BYTES = 512 * 1024 * 1024;

export async function readExamples(file: string, opts: ExampleOptions, streaming: boolean): Promise<TrainingData> {
  const examples: Example[] = [];
  const digest = new InputsDigest();
  let count = 0;
  let labeled = 0;
  for await (const { row, line } of readRows(file)) {
    const e = toExample(row, line, opts); // validates every row up front, also when streaming
    digest.add(e.line, e.input_ids, e.token_type_ids);
    count++;
    if (isLabeled(e)) labeled++;
    if (!streaming) examples.push(e);
  }
  if (count === 0) throw new InputError(`${file}: no rows`);
  const inputsDigest = digest.digest();
  return streaming
    ? { file, count, inputsDigest, labeled, batches: (plan, collate, start, epochs) => streamBatches(() => toExamples(readRows(file), opts), plan, collate, start, epochs) }
    : { file, count, inputsDigest, labeled, batches: (plan, collate, start, epochs) => toAsync(arrayBatches(examples, plan, collate, start, epochs)) };
}

/** Whether an example carries a label to learn from (a causal LM's labels are its own tokens). */
function isLabeled(e: Example): boolean {
  if (e.label !== undefined) return e.label !== IGNORE;
  if (e.labels !== undefined) return e.labels.some((l) => l !== IGNORE);
  return true;
}

async function* toAsync<T>(it: Iterable<T>): AsyncGenerator<T> {
  yield* it;
}
