/**
 * Examples -> padded int64 batches, in a seeded, resumable order.
 *
 * Order. Two ways to shuffle, both driven by mulberry32 (below) so that the same seed gives the same
 * order on every machine and Node version (only 32-bit integer arithmetic, no Math.random):
 *   * in memory (`arrayBatches`): the examples are an array; each epoch is a Fisher-Yates permutation of
 *     the indices with the epoch's seed. A uniform shuffle of the whole data set, and resuming at batch k
 *     only costs recomputing the permutation. Needs every example (or at least an index of them) in memory.
 *   * streaming (`streamBatches`): the examples come from a stream that is read once per epoch; a shuffle
 *     buffer of `bufferSize` examples (as tf.data's `shuffle`) emits a random element of the buffer and
 *     refills it from the stream. Memory is bounded by the buffer, but an example can only move about
 *     `bufferSize` places ahead of its file position (it can be emitted arbitrarily late), so a file sorted
 *     by label gives batches dominated by one label unless the buffer is a good fraction of the file: shuffle
 *     such files once on disk, or use a buffer at least as large as the sorted runs. Resuming at batch k
 *     replays the stream and skips the first k batches (reading is cheap next to training).
 * Without shuffling both keep the file order: the first batch is the first `batchSize` rows.
 *
 * Position. `DataPosition {epoch, batch}` names the next batch to produce; every batch comes with its own
 * position, and starting a generator at a saved position continues with exactly the batches that an
 * uninterrupted run would have produced (same seed, batch size and data).
 */
// onnxruntime-common's Tensor, not a runtime's: onnxruntime-node and -web read feeds by their fields, so the
// browser entry point (web/) builds its batches here too.
import { Tensor } from 'onnxruntime-common';
import { InputError } from '../errors.js';
import type { Batch } from '../runtime/batch.js';
import { IGNORE, type Example, type Task } from './examples.js';

// --- random numbers ------------------------------------------------------------------------------------

/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit-state generator, period 2^32; each call returns
 * a uint32 / 2^32 in [0, 1). Plenty for shuffling, and exactly reproducible (Math.imul and >>> only).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n) (n <= 2^32; the bias of the multiply method is below n / 2^32). */
export function randomInt(rng: () => number, n: number): number {
  return Math.floor(rng() * n);
}

/** The seed of one epoch: the murmur3 finalizer of (seed, epoch), so that epochs get unrelated orders. */
export function epochSeed(seed: number, epoch: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fisher-Yates shuffle in place with the given generator. */
export function shuffleInPlace<T>(xs: T[] | Uint32Array, rng: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const t = xs[i]!;
    xs[i] = xs[j]!;
    xs[j] = t;
  }
}

/** The order of `n` examples in an epoch: 0..n-1, or a seeded permutation of them. */
export function epochOrder(n: number, epoch: number, plan: Pick<BatchPlan, 'shuffle' | 'seed'>): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (plan.shuffle) shuffleInPlace(order, mulberry32(epochSeed(plan.seed, epoch)));
  return order;
}

/**
 * tf.data-style shuffle buffer over a stream: keeps `size` items, emits a random one and puts the next
 * input item in its place; at the end of the input emits the rest in random order.
 */
export async function* shuffleBuffer<T>(source: AsyncIterable<T> | Iterable<T>, size: number, rng: () => number): AsyncGenerator<T> {
  if (!Number.isInteger(size) || size < 1) throw new InputError(`shuffle buffer size must be a positive integer, got ${size}`);
  const buf: T[] = [];
  for await (const item of source) {
    if (buf.length < size) {
      buf.push(item);
      continue;
    }
    const j = randomInt(rng, size);
    yield buf[j]!;
    buf[j] = item;
  }
  while (buf.length > 0) {
    const j = randomInt(rng, buf.length);
    yield buf[j]!;
    buf[j] = buf[buf.length - 1]!;
    buf.pop();
  }
}

// --- order and positions ---------------------------------------------------------------------------------

/** Where the data loader is: the next batch to produce is batch `batch` (0-based) of epoch `epoch`. */
export interface DataPosition {
  epoch: number;
  batch: number;
}

export interface BatchPlan {
  batchSize: number;
  /** false = file order (`--no-shuffle`). */
  shuffle: boolean;
  seed: number;
  /** Drop a last batch smaller than batchSize (needed where batches are stacked; default false). */
  dropLast?: boolean;
  /** Streams only: examples held by the shuffle buffer (default 10,000). */
  bufferSize?: number;
}

/** A group of items (examples or rows) with its position; the batch after it is at `next`. */
export interface Planned<T> {
  position: DataPosition;
  next: DataPosition;
  items: T[];
}

function checkPlan(plan: BatchPlan, start: DataPosition): void {
  if (!Number.isInteger(plan.batchSize) || plan.batchSize < 1) throw new InputError(`batch size must be a positive integer, got ${plan.batchSize}`);
  if (!Number.isInteger(start.epoch) || start.epoch < 0 || !Number.isInteger(start.batch) || start.batch < 0) {
    throw new InputError(`invalid data position (epoch ${start.epoch}, batch ${start.batch})`);
  }
}

/** Batches per epoch of `n` examples. */
export function batchesPerEpoch(n: number, plan: Pick<BatchPlan, 'batchSize' | 'dropLast'>): number {
  return plan.dropLast ? Math.floor(n / plan.batchSize) : Math.ceil(n / plan.batchSize);
}

/**
 * Groups of an in-memory array in epoch order, from `start` (default the beginning) to the end of epoch
 * `epochs - 1` (endless when `epochs` is undefined).
 */
export function* planArray<T>(items: readonly T[], plan: BatchPlan, start: DataPosition = { epoch: 0, batch: 0 }, epochs?: number): Generator<Planned<T>> {
  checkPlan(plan, start);
  const per = batchesPerEpoch(items.length, plan);
  if (per === 0) throw new InputError(`no batches: ${items.length} examples and batch size ${plan.batchSize}${plan.dropLast ? ' with drop-last' : ''}`);
  for (let epoch = start.epoch; epochs === undefined || epoch < epochs; epoch++) {
    const order = epochOrder(items.length, epoch, plan);
    for (let b = epoch === start.epoch ? start.batch : 0; b < per; b++) {
      const idx = order.subarray(b * plan.batchSize, Math.min((b + 1) * plan.batchSize, items.length));
      yield {
        position: { epoch, batch: b },
        next: b + 1 < per ? { epoch, batch: b + 1 } : { epoch: epoch + 1, batch: 0 },
        items: Array.from(idx, (i) => items[i]!),
      };
    }
  }
}

/**
 * Groups of a stream, opened afresh for every epoch by `open(epoch)`, in file order or through a shuffle
 * buffer seeded per epoch. Resuming at `start` replays epoch `start.epoch` and skips its first batches.
 */
export async function* planStream<T>(
  open: (epoch: number) => AsyncIterable<T> | Iterable<T>,
  plan: BatchPlan,
  start: DataPosition = { epoch: 0, batch: 0 },
  epochs?: number,
): AsyncGenerator<Planned<T>> {
  checkPlan(plan, start);
  for (let epoch = start.epoch; epochs === undefined || epoch < epochs; epoch++) {
    const src = plan.shuffle ? shuffleBuffer(open(epoch), plan.bufferSize ?? 10_000, mulberry32(epochSeed(plan.seed, epoch))) : open(epoch);
    const skip = epoch === start.epoch ? start.batch : 0;
    let b = 0;
    let group: T[] = [];
    let held: Planned<T> | null = null; // one batch held back, so that the epoch's last batch gets next = {epoch + 1, 0}
    const push = (g: T[]): Planned<T> | null => {
      const p: Planned<T> = { position: { epoch, batch: b }, next: { epoch, batch: b + 1 }, items: g };
      b++;
      const out = held;
      held = p.position.batch >= skip ? p : null;
      return out;
    };
    for await (const item of src) {
      group.push(item);
      if (group.length === plan.batchSize) {
        const out = push(group);
        group = [];
        if (out) yield out;
      }
    }
    if (group.length > 0 && !plan.dropLast) {
      const out = push(group);
      if (out) yield out;
    }
    if (b === 0) throw new InputError(`no batches in epoch ${epoch}: the data is empty or smaller than one batch with drop-last`);
    const last = held as Planned<T> | null;
    if (last) yield { ...last, next: { epoch: epoch + 1, batch: 0 } };
  }
}

// --- collation -----------------------------------------------------------------------------------------

export interface CollateOptions {
  task: Task;
  /** The padding token id (sidecar `pad_token_id`). */
  padId: number;
  /** Model inputs to build (default the sidecar's usual `input_ids`, `attention_mask`). */
  inputs?: readonly string[];
  /** Add `labels` (default true). */
  withLabels?: boolean;
}

function int64(values: ArrayLike<number>, dims: number[]): Tensor {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return new Tensor('int64', data, dims);
}

/** The model inputs collate() builds from the data. */
export const BUILDABLE_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;

export const isBuildableInput = (name: string): boolean => (BUILDABLE_INPUTS as readonly string[]).includes(name);

/**
 * Checks, before any data is read, that the data can feed every input of `file`. An input outside
 * BUILDABLE_INPUTS is most often a Python argument a TorchScript export made a graph input (a causal LM's
 * logits_to_keep becomes 'onnx::Gather_2'), or a cache input of an export with use_cache.
 */
export function checkFeedableInputs(file: string, inputs: readonly string[]): void {
  const odd = inputs.find((n) => !isBuildableInput(n));
  if (odd === undefined) return;
  throw new InputError(`${file}: input '${odd}' is none the data gives (${BUILDABLE_INPUTS.join(', ')}); a TorchScript export turns Python arguments such as a causal LM's logits_to_keep into inputs, and use_cache adds past_key_values: export with dynamo, or a forward that takes only input_ids and attention_mask, with use_cache=False (README, step 1)`);
}

/**
 * Pads examples to the longest in the group (right padding) and builds the int64 tensors:
 * `input_ids` [B, S] (pad id), `attention_mask` [B, S] (0 on padding), `token_type_ids` [B, S] when asked
 * for (0 on padding), and `labels`: seq-cls [B] (-100 = unlabeled), token-cls [B, S] (-100 on padding),
 * causal-lm [B, S] = input_ids with -100 where the attention mask is 0 (the loss shifts them itself).
 */
export function collate(examples: readonly Example[], opts: CollateOptions): Batch {
  if (examples.length === 0) throw new InputError('cannot build a batch of no examples');
  const inputs = opts.inputs ?? ['input_ids', 'attention_mask'];
  const B = examples.length;
  const S = Math.max(...examples.map((e) => e.input_ids.length));
  const ids = new Array<number>(B * S).fill(opts.padId);
  const mask = new Array<number>(B * S).fill(0);
  const types = new Array<number>(B * S).fill(0);
  examples.forEach((e, r) => {
    const o = r * S;
    e.input_ids.forEach((v, k) => (ids[o + k] = v));
    for (let k = 0; k < e.input_ids.length; k++) mask[o + k] = e.attention_mask ? e.attention_mask[k]! : 1;
    e.token_type_ids?.forEach((v, k) => (types[o + k] = v));
  });
  const out: Batch = {};
  for (const name of inputs) {
    if (name === 'input_ids') out[name] = int64(ids, [B, S]);
    else if (name === 'attention_mask') out[name] = int64(mask, [B, S]);
    else if (name === 'token_type_ids') out[name] = int64(types, [B, S]);
    else if (name === 'labels') continue;
    else throw new InputError(`cannot build model input '${name}' from the data (known: ${BUILDABLE_INPUTS.join(', ')})`);
  }
  if (opts.withLabels ?? true) {
    if (opts.task === 'seq-cls') {
      out.labels = int64(examples.map((e) => e.label ?? IGNORE), [B]);
    } else if (opts.task === 'token-cls') {
      const labels = new Array<number>(B * S).fill(IGNORE);
      examples.forEach((e, r) => e.labels?.forEach((v, k) => (labels[r * S + k] = v)));
      out.labels = int64(labels, [B, S]);
    } else {
      out.labels = int64(ids.map((v, i) => (mask[i] ? v : IGNORE)), [B, S]);
    }
  }
  return out;
}

/** A collated batch with its position and the source lines of its rows. */
export interface PositionedBatch {
  position: DataPosition;
  next: DataPosition;
  batch: Batch;
  lines: number[];
}

/** Batches of an in-memory example array (see `planArray`). */
export function* arrayBatches(examples: readonly Example[], plan: BatchPlan, collateOpts: CollateOptions, start?: DataPosition, epochs?: number): Generator<PositionedBatch> {
  for (const p of planArray(examples, plan, start, epochs)) {
    yield { position: p.position, next: p.next, batch: collate(p.items, collateOpts), lines: p.items.map((e) => e.line) };
  }
}

/** Batches of an example stream (see `planStream`). */
export async function* streamBatches(
  open: (epoch: number) => AsyncIterable<Example> | Iterable<Example>,
  plan: BatchPlan,
  collateOpts: CollateOptions,
  start?: DataPosition,
  epochs?: number,
): AsyncGenerator<PositionedBatch> {
  for await (const p of planStream(open, plan, start, epochs)) {
    yield { position: p.position, next: p.next, batch: collate(p.items, collateOpts), lines: p.items.map((e) => e.line) };
  }
}
