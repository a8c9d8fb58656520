import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';
import { both, kind } from './helpers/rule-cases.js';

describe('gradient rules: Concat, Split', () => {
  for (const opset of [13, 18]) {
    for (const dynamic of both) {
      it(`Concat of three inputs on axis 1, opset ${opset} (${kind(dynamic)})`, async () => {
        await gradcheck({
          opset,
          dynamic,
          params: { a: [2, 1, 3], b: [2, 3, 3], c: [2, 2, 3] },
          forward: (b, v) => b.op('Concat', [v.a!, v.b!, v.c!], { axis: 1 }),
        });
      });
    }
  }
  for (const dynamic of both) {
    it(`Concat on axis -1 where the middle input needs no gradient (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { a: [2, 3, 2], k: [2, 3, 4], c: [2, 3, 1] },
        wrt: ['a', 'c'],
        forward: (b, v) => b.op('Concat', [v.a!, v.k!, v.c!], { axis: -1 }),
      });
    });
    it(`Concat on axis 0 with an empty input (past_key_values of length 0) (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { past: [0, 3], x: [2, 3] },
        forward: (b, v) => b.op('Concat', [v.past!, v.x!], { axis: 0 }),
      });
    });
  }
  it('Concat mixing a static extent and one of unknown rank (a Shape-derived split size)', async () => {
    await gradcheck({
      params: { a: [2, 3], c: [3, 2] },
      feeds: { s: { dtype: 'int64', shape: [2], data: [2, 3] } },
      forward: (b, v) => b.op('Concat', [v.a!, b.reshape(v.c!, v.s!), v.a!], { axis: 1 }),
    });
  });

  for (const opset of [13, 17]) {
    for (const dynamic of both) {
      it(`Split sizes [2,1,3] on axis 1, all outputs used, opset ${opset} (${kind(dynamic)})`, async () => {
        await gradcheck({
          opset,
          dynamic,
          params: { x: [2, 6, 3] },
          forward: (b, v) => b.opN('Split', [v.x!, b.int64([2, 1, 3])], 3, { axis: 1 }),
        });
      });
      it(`Split on axis -1 with the middle output unused (zeros), opset ${opset} (${kind(dynamic)})`, async () => {
        await gradcheck({
          opset,
          dynamic,
          params: { x: [2, 3, 6] },
          forward: (b, v) => {
            const [p, , r] = b.opN('Split', [v.x!, b.int64([1, 2, 3])], 3, { axis: -1 });
            return [p!, r!];
          },
        });
      });
    }
  }
  it('Split equal parts without sizes (opset 13) keeps only the last output (q,k,v -> v)', async () => {
    await gradcheck({
      opset: 13,
      params: { x: [2, 9] },
      forward: (b, v) => b.opN('Split', [v.x!], 3, { axis: 1 })[2]!,
    });
  });
  for (const dynamic of both) {
    it(`Split with num_outputs (opset 18), first output unused (${kind(dynamic)})`, async () => {
      await gradcheck({
        opset: 18,
        dynamic,
        params: { x: [4, 6] },
        forward: (b, v) => b.opN('Split', [v.x!], 3, { axis: 1, num_outputs: 3 }).slice(1),
      });
    });
  }
  it('Split: an unused output holding inf still gives zero (not NaN) gradients there (no Sub(y, y))', async () => {
    await gradcheck({
      params: { x: [2, 4] },
      consts: { c: { dtype: 'float64', shape: [4], data: [0, 0, Infinity, Infinity] } },
      forward: (b, v) => b.opN('Split', [b.add(v.x!, v.c!), b.int64([2, 2])], 2, { axis: 1 })[0]!,
    });
  });
});
