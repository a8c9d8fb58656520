/**
 * src/data/batches.ts: padding and masks, the seeded order (mulberry32 reference values from an independent
 * Python implementation of the same algorithm), shuffle buffer, no-shuffle file order and resuming.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type ort from 'onnxruntime-node';
import {
  arrayBatches,
  batchesPerEpoch,
  collate,
  epochOrder,
  mulberry32,
  planArray,
  planStream,
  shuffleBuffer,
  streamBatches,
  type BatchPlan,
  type DataPosition,
} from '../src/data/batches.js';
import { toExamples, type Example } from '../src/data/examples.js';
import { readRows } from '../src/data/reader.js';
import { readTokenizer } from '../src/data/tokenize.js';
import { MODELS } from './helpers/fixtures.js';
import { collect, tempDir } from './helpers/temp-dir.js';

const { dir: TMP } = tempDir('data-batches-');

const nums = (t: ort.Tensor) => Array.from(t.data as BigInt64Array, Number);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

const EXAMPLES: Example[] = [
  { input_ids: [2, 10, 11, 3], token_type_ids: [0, 0, 0, 0], label: 1, labels: [-100, 1, 2, -100], line: 1 },
  { input_ids: [2, 12, 3], label: -100, labels: [-100, 0, -100], line: 2 },
  { input_ids: [2, 13, 14, 15, 3], attention_mask: [1, 1, 1, 0, 0], label: 0, labels: [-100, 2, 0, 1, -100], line: 3 },
];

describe('collate', () => {
  it('pads to the longest row: pad id, attention 0, int64 [B, S]', () => {
    const b = collate(EXAMPLES, { task: 'seq-cls', padId: 7 });
    assert.deepEqual(Object.keys(b), ['input_ids', 'attention_mask', 'labels']);
    for (const t of Object.values(b)) assert.equal(t.type, 'int64');
    assert.deepEqual(b.input_ids!.dims, [3, 5]);
    assert.deepEqual(nums(b.input_ids!), [2, 10, 11, 3, 7, 2, 12, 3, 7, 7, 2, 13, 14, 15, 3]);
    assert.deepEqual(nums(b.attention_mask!), [1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0]);
    assert.deepEqual(b.labels!.dims, [3]);
    assert.deepEqual(nums(b.labels!), [1, -100, 0]);
  });

  it('token-cls labels [B, S] with -100 on padding; token_type_ids when asked for', () => {
    const b = collate(EXAMPLES, { task: 'token-cls', padId: 0, inputs: ['input_ids', 'token_type_ids', 'attention_mask'] });
    assert.deepEqual(Object.keys(b), ['input_ids', 'token_type_ids', 'attention_mask', 'labels']);
    assert.deepEqual(nums(b.token_type_ids!), new Array(15).fill(0));
    assert.deepEqual(b.labels!.dims, [3, 5]);
    assert.deepEqual(nums(b.labels!), [-100, 1, 2, -100, -100, -100, 0, -100, -100, -100, -100, 2, 0, 1, -100]);
  });

  it('causal-lm labels = input_ids, -100 where the attention mask is 0; no labels when not wanted', () => {
    const b = collate(EXAMPLES, { task: 'causal-lm', padId: 0 });
    assert.deepEqual(nums(b.labels!), [2, 10, 11, 3, -100, 2, 12, 3, -100, -100, 2, 13, 14, -100, -100]);
    assert.deepEqual(Object.keys(collate(EXAMPLES, { task: 'causal-lm', padId: 0, withLabels: false })), ['input_ids', 'attention_mask']);
  });
});

describe('seeded order', () => {
  it('mulberry32 gives the reference sequence (same on every machine)', () => {
    // Python: a = (a + 0x6D2B79F5) mod 2^32; t = ((a ^ a>>15) * (a|1)) mod 2^32; t ^= t + ((t ^ t>>7) * (t|61)) mod 2^32; t ^ t>>14
    const r = mulberry32(42);
    assert.deepEqual(range(4).map(() => r() * 2 ** 32), [2581720956, 1925393290, 3661312704, 2876485805]);
    const z = mulberry32(0);
    assert.deepEqual(range(2).map(() => z() * 2 ** 32), [1144304738, 1416247]);
  });

  it('same seed -> same order; other seeds and epochs differ; each is a permutation', () => {
    const plan = { shuffle: true, seed: 42 };
    const a = Array.from(epochOrder(1000, 0, plan));
    assert.deepEqual(Array.from(epochOrder(1000, 0, plan)), a);
    assert.deepEqual([...a].sort((x, y) => x - y), range(1000));
    assert.notDeepEqual(a, range(1000));
    assert.notDeepEqual(Array.from(epochOrder(1000, 0, { shuffle: true, seed: 43 })), a);
    assert.notDeepEqual(Array.from(epochOrder(1000, 1, plan)), a);
    assert.deepEqual(Array.from(epochOrder(10, 0, { shuffle: false, seed: 42 })), range(10));
  });

  it('no shuffle: file order, the first batch is the first rows; last batch smaller unless dropLast', () => {
    const items = range(10);
    const groups = [...planArray(items, { batchSize: 4, shuffle: false, seed: 1 }, undefined, 1)];
    assert.deepEqual(groups.map((g) => g.items), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    assert.deepEqual(groups.map((g) => g.position), [{ epoch: 0, batch: 0 }, { epoch: 0, batch: 1 }, { epoch: 0, batch: 2 }]);
    assert.deepEqual(groups[2]!.next, { epoch: 1, batch: 0 });
    assert.equal([...planArray(items, { batchSize: 4, shuffle: false, seed: 1, dropLast: true }, undefined, 1)].length, 2);
    assert.equal(batchesPerEpoch(10, { batchSize: 4 }), 3);
    assert.equal(batchesPerEpoch(10, { batchSize: 4, dropLast: true }), 2);
  });

  it('resuming at a data position continues with the same batches', () => {
    const items = range(23);
    const plan: BatchPlan = { batchSize: 5, shuffle: true, seed: 7 };
    const full = [...planArray(items, plan, undefined, 3)];
    assert.equal(full.length, 15);
    // every epoch covers all items once
    for (let e = 0; e < 3; e++) assert.deepEqual(full.filter((g) => g.position.epoch === e).flatMap((g) => g.items).sort((x, y) => x - y), items);
    const at: DataPosition = full[7]!.position; // epoch 1, batch 2
    assert.deepEqual(at, { epoch: 1, batch: 2 });
    assert.deepEqual([...planArray(items, plan, at, 3)], full.slice(7));
    assert.deepEqual([...planArray(items, plan, full[6]!.next, 3)], full.slice(7));
  });
});

describe('streams', () => {
  it('shuffle buffer: a permutation, deterministic per seed, identity with size 1', async () => {
    const src = range(200);
    const a = await collect(shuffleBuffer(src, 16, mulberry32(1)));
    assert.deepEqual([...a].sort((x, y) => x - y), src);
    assert.notDeepEqual(a, src);
    assert.deepEqual(await collect(shuffleBuffer(src, 16, mulberry32(1))), a);
    assert.notDeepEqual(await collect(shuffleBuffer(src, 16, mulberry32(2))), a);
    assert.deepEqual(await collect(shuffleBuffer(src, 1, mulberry32(1))), src);
    // an item leaves at most (buffer size - 1) places early
    a.forEach((v, i) => assert.ok(v <= i + 15, `${v} at ${i}`));
  });

  it('planStream: no-shuffle file order, seeded shuffle, positions and resuming', async () => {
    const open = () => range(23);
    const noShuffle = await collect(planStream(open, { batchSize: 5, shuffle: false, seed: 3 }, undefined, 2));
    assert.deepEqual(noShuffle[0]!.items, [0, 1, 2, 3, 4]);
    assert.deepEqual(noShuffle.map((g) => g.position.batch), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    assert.deepEqual(noShuffle[4]!.next, { epoch: 1, batch: 0 });
    assert.deepEqual(noShuffle[3]!.next, { epoch: 0, batch: 4 });
    const plan: BatchPlan = { batchSize: 5, shuffle: true, seed: 3, bufferSize: 8 };
    const full = await collect(planStream(open, plan, undefined, 2));
    assert.deepEqual(await collect(planStream(open, plan, undefined, 2)), full);
    assert.notDeepEqual(full[0]!.items, noShuffle[0]!.items);
    assert.notDeepEqual(full[5]!.items, full[0]!.items, 'epochs are shuffled differently');
    assert.notDeepEqual((await collect(planStream(open, { ...plan, seed: 4 }, undefined, 1)))[0]!.items, full[0]!.items);
    assert.deepEqual(await collect(planStream(open, plan, { epoch: 1, batch: 3 }, 2)), full.slice(8));
    assert.deepEqual(await collect(planStream(open, plan, { epoch: 0, batch: 4 }, 2)), full.slice(4));
  });

  it('file -> examples -> batches, end to end', async () => {
    const tok = readTokenizer(path.join(MODELS, 'tokenizer.json'));
    const f = path.join(TMP, 'train.jsonl');
    fs.writeFileSync(f, range(10).map((i) => JSON.stringify({ text: 'a '.repeat(i + 1), label: i % 2 ? 'spam' : 'ham' })).join('\n'));
    const opts = { task: 'seq-cls' as const, file: f, tokenizer: tok, labels: { count: 2, names: ['ham', 'spam'] }, maxLength: 6 };
    const collateOpts = { task: 'seq-cls' as const, padId: 0 };
    const batches = await collect(streamBatches(() => toExamples(readRows(f), opts), { batchSize: 4, shuffle: false, seed: 0 }, collateOpts, undefined, 1));
    assert.deepEqual(batches.map((b) => b.lines), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
    const first = batches[0]!.batch;
    assert.deepEqual(first.input_ids!.dims, [4, 6]);
    assert.deepEqual(nums(first.input_ids!), [2, 43, 3, 0, 0, 0, 2, 43, 43, 3, 0, 0, 2, 43, 43, 43, 3, 0, 2, 43, 43, 43, 43, 3]);
    assert.deepEqual(nums(first.attention_mask!), [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(nums(first.labels!), [0, 1, 0, 1]);
    assert.deepEqual(batches[2]!.batch.input_ids!.dims, [2, 6]); // truncated to maxLength
    // in memory, shuffled: the same examples, in another order
    const examples = await collect(toExamples(readRows(f), opts));
    const shuffled = [...arrayBatches(examples, { batchSize: 4, shuffle: true, seed: 42 }, collateOpts, undefined, 1)];
    assert.deepEqual(shuffled.flatMap((b) => b.lines).sort((x, y) => x - y), range(10).map((i) => i + 1));
    assert.notDeepEqual(shuffled.flatMap((b) => b.lines), range(10).map((i) => i + 1));
  });
});
