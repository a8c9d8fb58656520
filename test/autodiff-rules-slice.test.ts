import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';
import { INT64_MAX, INT64_MIN, i64, both, kind } from './helpers/rule-cases.js';

describe('gradient rules: Slice', () => {
  for (const dynamic of both) {
    it(`Slice one axis [1:3] of axis 1 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 5, 3] },
        forward: (b, v) => b.op('Slice', [v.x!, b.int64([1]), b.int64([3]), b.int64([1])]),
      });
    });
    it(`Slice [1:INT64_MAX] (drop the first token) and [0:2] on the last axis (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 5, 4] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [1]), i64(b, [INT64_MAX]), i64(b, [1])]),
          b.op('Slice', [v.x!, i64(b, [0]), i64(b, [2]), i64(b, [-1])]),
        ],
      });
    });
    it(`Slice negative start [-2:INT64_MAX] and [0:-1] on two axes at once (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 5, 4] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [-2]), i64(b, [INT64_MAX]), i64(b, [-1])]),
          b.op('Slice', [v.x!, i64(b, [0, 1]), i64(b, [-1, 4]), i64(b, [0, 1])]),
        ],
      });
    });
    it(`Slice with out-of-range start/end (clamped) and an empty result on one axis (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 4] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [-10, 1]), i64(b, [10, 100]), i64(b, [0, 1])]),
          b.op('Add', [b.op('Slice', [v.x!, i64(b, [7]), i64(b, [9]), i64(b, [1])]), b.scalarLike(1, v.x!)]),
        ],
      });
    });
    it(`Slice step 2 on axis -1 and step -1 (reversal, INT64_MIN end) on axis 0 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 4, 5] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [1]), i64(b, [INT64_MAX]), i64(b, [-1]), i64(b, [2])]),
          b.op('Slice', [v.x!, i64(b, [-1]), i64(b, [INT64_MIN]), i64(b, [0]), i64(b, [-1])]),
        ],
      });
    });
    it(`Slice several axes with steps 1, -2, 3 and no axes input (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 5, 7] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [1, 4, 0]), i64(b, [3, 0, 7]), i64(b, [0, 1, 2]), i64(b, [1, -2, 3])]),
          b.op('Slice', [v.x!, i64(b, [1, 1]), i64(b, [3, 4])]),
        ],
      });
    });
  }
  it('Slice with run-time starts/ends/axes/steps (fed, unknown at build time)', async () => {
    await gradcheck({
      params: { x: [4, 6] },
      feeds: {
        st: { dtype: 'int64', shape: [2], data: [-1, 1] },
        en: { dtype: 'int64', shape: [2], data: [-100, 6] },
        ax: { dtype: 'int64', shape: [2], data: [0, -1] },
        sp: { dtype: 'int64', shape: [2], data: [-2, 2] },
      },
      forward: (b, v) => b.op('Slice', [v.x!, v.st!, v.en!, v.ax!, v.sp!]),
    });
  });
  it('Slice with int32 starts/ends/axes on run-time shapes, step 1 from a middle start (Pad, one side at run time)', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [2, 6] },
      consts: {
        st: { dtype: 'int32', shape: [1], data: [2] },
        en: { dtype: 'int32', shape: [1], data: [5] },
        ax: { dtype: 'int32', shape: [1], data: [1] },
      },
      forward: (b, v) => b.op('Slice', [v.x!, v.st!, v.en!, v.ax!]),
    });
  });
  it('Slice on run-time shapes: [1:INT64_MAX] on axis 1 and [0:2] on axis 2 in one node (mixed Pad sides)', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [2, 5, 4] },
      forward: (b, v) => b.op('Slice', [v.x!, i64(b, [1, 0]), i64(b, [INT64_MAX, 2]), i64(b, [1, -1])]),
    });
  });
  for (const dynamic of both) {
    it(`Slice at opset 21: [1:INT64_MAX] (Pad) and step -2 (scatter) (${kind(dynamic)})`, async () => {
      await gradcheck({
        opset: 21,
        dynamic,
        params: { x: [4, 5] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [1]), i64(b, [INT64_MAX]), i64(b, [1])]),
          b.op('Slice', [v.x!, i64(b, [-1]), i64(b, [INT64_MIN]), i64(b, [0]), i64(b, [-2])]),
        ],
      });
    });
  }
  it('static step-1 slices take the cheap Pad path (a handful of backward nodes)', async () => {
    const r = await gradcheck({
      params: { x: [2, 5, 4] },
      forward: (b, v) => b.op('Slice', [v.x!, i64(b, [1, 0]), i64(b, [INT64_MAX, 2]), i64(b, [1, -1])]),
    });
    assert.ok(r.backwardNodes <= 2, `expected Pad + its pads constant, got ${r.backwardNodes} nodes`);
  });
});
