import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';
import { both, kind } from './helpers/rule-cases.js';

describe('gradient rules: GatherND (batch_dims 0)', () => {
  for (const dynamic of both) {
    it(`a decoder classifier's last-token pick, logits[arange(B), last] (${kind(dynamic)})`, async () => {
      await gradcheck({
        opset: 18,
        dynamic,
        params: { x: [3, 5, 2] },
        consts: { i: { dtype: 'int64', shape: [3, 2], data: [0, 4, 1, 2, 2, 0] } },
        forward: (b, v) => b.op('GatherND', [v.x!, v.i!]),
      });
    });
    it(`repeated and negative indices add up; depth 1 and full depth (${kind(dynamic)})`, async () => {
      await gradcheck({
        opset: 17,
        dynamic,
        params: { x: [4, 3, 2], z: [2, 3] },
        consts: {
          i: { dtype: 'int64', shape: [2, 2, 1], data: [1, -1, 1, 0] },
          j: { dtype: 'int64', shape: [4, 2], data: [1, 2, -1, -1, 0, 0, 1, 2] },
        },
        forward: (b, v) => [b.op('GatherND', [v.x!, v.i!]), b.op('GatherND', [v.z!, v.j!])],
      });
    });
  }
});
