import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attr } from '../src/ir/attributes.js';
import type { Builder } from '../src/ir/builder.js';
import type { Value } from '../src/ir/graph.js';
import { gradcheck } from './helpers/gradcheck.js';

/** An empty int64 axes feed: ReduceSum(v, none, noop_with_empty_axes=1) is v, but inference loses its rank. */
const NONE = { none: { dtype: 'int64' as const, shape: [0], data: [] } };
// An identity whose output rank inference cannot know: ReduceSum over run-time (empty) axes, keepdims=0.
const hideRank = (b: Builder, v: Value, none: Value) => b.op('ReduceSum', [v, none], { keepdims: 0, noop_with_empty_axes: 1 });

describe('gradient rules: Softmax, LogSoftmax', () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const axis of [-1, 1, -2, 0, undefined]) {
      for (const dynamic of [false, true]) {
        it(`${op} axis ${axis ?? 'default (-1)'} of [2,3,4]${dynamic ? ' (dynamic shapes)' : ''}`, async () => {
          await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.op(op, [v.x!], { axis }) });
        });
      }
    }
    for (const opset of [13, 18, 21]) {
      it(`${op} at opset ${opset}, non-last axis`, async () => {
        await gradcheck({ opset, params: { x: [3, 4, 2] }, forward: (b, v) => b.op(op, [v.x!], { axis: 1 }) });
      });
    }
    it(`${op} float32`, async () => {
      await gradcheck({ dtype: 'float32', params: { x: [2, 5] }, forward: (b, v) => b.op(op, [v.x!]) });
    });
    it(`${op} uses 4 backward nodes and reuses the forward output`, async () => {
      const rep = await gradcheck({ params: { x: [2, 5] }, forward: (b, v) => b.op(op, [v.x!]) });
      assert.equal(rep.backwardNodes, 5); // 4 ops + the ReduceSum axes constant
    });
  }
});

// Mean / InvStdDev are float32 even for a float64 X (stash_type 1; ORT has no double stash), so float64
// gradients carry float32 rounding of the statistics (~1e-7 relative): atol 1e-6.
const LN_TOL = { atol: 1e-6, rtol: 1e-5 };

describe('gradient rules: LayerNormalization', () => {
  const cases: [string, number[], number[], number | undefined, boolean][] = [
    ['axis -1 with B', [2, 3, 4], [4], -1, true],
    ['default axis, without B', [2, 3, 4], [4], undefined, false],
    ['axis -2 (last two axes) with B', [2, 3, 4], [3, 4], -2, true],
    ['axis 1 (positive) of rank 3, with B', [2, 3, 4], [3, 4], 1, true],
    ['axis -1 of rank 2 without B', [3, 5], [5], -1, false],
    ['axis -2 with Scale and B [1,4] broadcast over the normalized axis of size 3', [2, 3, 4], [1, 4], -2, true],
  ];
  for (const [name, xs, ss, axis, withB] of cases) {
    for (const dynamic of [false, true]) {
      it(`${name}${dynamic ? ' (dynamic shapes)' : ''}`, async () => {
        await gradcheck({
          ...LN_TOL,
          dynamic,
          params: { x: xs, s: { shape: ss, lo: 0.5, hi: 1.5 }, ...(withB ? { bias: ss } : {}) },
          forward: (b, v) => b.op('LayerNormalization', withB ? [v.x!, v.s!, v.bias!] : [v.x!, v.s!], { axis, epsilon: attr.float(1e-5) }),
        });
      });
    }
  }
  it('float32 X (stats need no cast), opset 18', async () => {
    await gradcheck({
      dtype: 'float32', opset: 18,
      params: { x: [2, 3, 4], s: { shape: [4], lo: 0.5, hi: 1.5 }, bias: [4] },
      forward: (b, v) => b.op('LayerNormalization', [v.x!, v.s!, v.bias!]),
    });
  });
  it('forward node that already outputs Mean and InvStdDev', async () => {
    await gradcheck({
      ...LN_TOL,
      params: { x: [2, 3, 4], s: { shape: [4], lo: 0.5, hi: 1.5 }, bias: [4] },
      forward: (b, v) => b.opN('LayerNormalization', [v.x!, v.s!, v.bias!], 3)[0]!,
    });
  });
  it('only Scale and B need gradients (X frozen)', async () => {
    await gradcheck({
      ...LN_TOL,
      wrt: ['s', 'bias'],
      params: { x: [2, 3, 4], s: { shape: [4], lo: 0.5, hi: 1.5 }, bias: [4] },
      forward: (b, v) => b.op('LayerNormalization', [v.x!, v.s!, v.bias!]),
    });
  });
  for (const axis of [1, -2]) {
    it(`X of unknown rank, axis ${axis} (run-time normalized axes when positive)`, async () => {
      await gradcheck({
        ...LN_TOL,
        feeds: NONE,
        params: { x: [2, 3, 4], s: { shape: [3, 4], lo: 0.5, hi: 1.5 }, bias: [3, 4] },
        forward: (b, v) => b.op('LayerNormalization', [hideRank(b, v.x!, v.none!), v.s!, v.bias!], { axis }),
      });
    });
  }
});

const axesArg = (b: Builder, opset: number, op: string, axes: number[] | undefined) =>
  op === 'ReduceSum' || opset >= 18 ? { input: axes ? b.int64(axes) : null, attrs: {} } : { input: null, attrs: { axes } };

describe('gradient rules: ReduceSum, ReduceMean', () => {
  const cases: [string, number[] | undefined, number][] = [
    ['axis 1', [1], 1],
    ['axis 1', [1], 0],
    ['axes [-1, 0] (negative, unsorted)', [-1, 0], 0],
    ['axes [-1, 0] (negative, unsorted)', [-1, 0], 1],
    ['axes [0, 2]', [0, 2], 0],
    ['no axes (reduce all)', undefined, 0],
    ['no axes (reduce all)', undefined, 1],
  ];
  for (const op of ['ReduceSum', 'ReduceMean']) {
    for (const opset of [17, 18]) {
      for (const [name, axes, keepdims] of cases) {
        for (const dynamic of [false, true]) {
          it(`${op} opset ${opset}, ${name}, keepdims=${keepdims}${dynamic ? ' (dynamic shapes)' : ''}`, async () => {
            await gradcheck({
              opset, dynamic, params: { x: [2, 3, 4] },
              forward: (b, v) => {
                const a = axesArg(b, opset, op, axes);
                return b.op(op, [v.x!, a.input], { ...a.attrs, keepdims });
              },
            });
          });
        }
      }
    }
    it(`${op} opset 13 (axes ${op === 'ReduceSum' ? 'input' : 'attribute'})`, async () => {
      await gradcheck({
        opset: 13, params: { x: [3, 4] },
        forward: (b, v) => { const a = axesArg(b, 13, op, [0]); return b.op(op, [v.x!, a.input], { ...a.attrs, keepdims: 0 }); },
      });
    });
    const rtOpset = op === 'ReduceSum' ? 13 : 18;
    for (const [axes, keepdims, noop] of [[[1], 0, 0], [[-1, 0], 0, 0], [[2], 1, 0], [[], 0, 0], [[], 1, 0], [[], 0, 1]] as const) {
      it(`${op} opset ${rtOpset}, run-time axes [${axes}], keepdims=${keepdims}, noop_with_empty_axes=${noop}`, async () => {
        await gradcheck({
          opset: rtOpset, dynamic: true, params: { x: [2, 3, 4] },
          feeds: { axes: { dtype: 'int64', shape: [axes.length], data: [...axes] } },
          forward: (b, v) => b.op(op, [v.x!, v.axes!], { keepdims, noop_with_empty_axes: noop || undefined }),
        });
      });
    }
    it(`${op} opset 18, constant empty axes with noop_with_empty_axes=1 is the identity (no backward node)`, async () => {
      const rep = await gradcheck({
        opset: 18, params: { x: [2, 3] },
        forward: (b, v) => b.op(op, [v.x!, b.int64([])], { keepdims: 0, noop_with_empty_axes: 1 }),
      });
      assert.equal(rep.backwardNodes, 0);
    });
    it(`${op} of unknown rank with mixed-sign axes [0, -1], keepdims=0`, async () => {
      await gradcheck({
        opset: 18, feeds: NONE, params: { x: [2, 3, 4] },
        forward: (b, v) => b.op(op, [hideRank(b, v.x!, v.none!), b.int64([0, -1])], { keepdims: 0 }),
      });
    });
    it(`${op} of unknown rank with negative axes [-2, -1], keepdims=0`, async () => {
      await gradcheck({
        opset: 18, feeds: NONE, params: { x: [2, 3, 4] },
        forward: (b, v) => b.op(op, [hideRank(b, v.x!, v.none!), b.int64([-2, -1])], { keepdims: 0 }),
      });
    });
  }
});
