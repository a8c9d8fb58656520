import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';

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
