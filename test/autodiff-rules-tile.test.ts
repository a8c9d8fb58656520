import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';
import { both, kind } from './helpers/rule-cases.js';

describe('gradient rules: Tile', () => {
  for (const dynamic of both) {
    it(`repeats [2,3] on [2,3] and [1,4,2] on [2,1,3] (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 3], z: [2, 1, 3] },
        consts: { r2: { dtype: 'int64', shape: [2], data: [2, 3] }, r3: { dtype: 'int64', shape: [3], data: [1, 4, 2] } },
        forward: (b, v) => [b.op('Tile', [v.x!, v.r2!]), b.op('Tile', [v.z!, v.r3!])],
      });
    });
  }
  it('repeats known only at run time (DeBERTa tiles by a computed count)', async () => {
    await gradcheck({
      params: { x: [3, 2] },
      feeds: { r: { dtype: 'int64', shape: [2], data: [2, 3] } },
      forward: (b, v) => b.op('Tile', [v.x!, v.r!]),
    });
  });
  it('repeats of ones: the gradient is dy itself', async () => {
    const r = await gradcheck({
      params: { x: [2, 3] },
      consts: { r: { dtype: 'int64', shape: [2], data: [1, 1] } },
      forward: (b, v) => b.op('Tile', [v.x!, v.r!]),
    });
    assert.equal(r.backwardNodes, 0);
  });
});
