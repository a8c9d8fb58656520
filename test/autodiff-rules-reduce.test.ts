import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Builder } from '../src/ir/builder.js';
import { gradcheck } from './helpers/gradcheck.js';
import { NONE, hideRank } from './helpers/rule-cases.js';

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
