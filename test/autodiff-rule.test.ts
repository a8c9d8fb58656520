import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';
import { INT64_MAX, i64, both, kind } from './helpers/rule-cases.js';

describe('gradient rules: float32 graphs (zeros and scatters take the float32 element type)', () => {
  for (const dynamic of both) {
    it(`Split with an unused output, Slice step 2, Gather with repeats, Concat, in float32 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dtype: 'float32',
        dynamic,
        eps: 1e-2,
        params: { x: [4, 6] },
        consts: { idx: { dtype: 'int64', shape: [3], data: [3, 3, 0] } },
        forward: (b, v) => {
          const [p] = b.opN('Split', [v.x!, b.int64([2, 4])], 2, { axis: 1 });
          const s = b.op('Slice', [v.x!, i64(b, [0]), i64(b, [INT64_MAX]), i64(b, [1]), i64(b, [2])]);
          const g = b.op('Gather', [v.x!, v.idx!]);
          return [p!, s, b.op('Concat', [g, v.x!], { axis: 0 })];
        },
      });
    });
  }
});
