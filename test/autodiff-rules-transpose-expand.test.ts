import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '../src/errors.js';
import { Builder } from '../src/ir/builder.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { newModel } from '../src/ir/convert.js';
import { gradcheck } from './helpers/gradcheck.js';
import { session, tensor } from './helpers/ort.js';
import { both, kind, differentiateOnly } from './helpers/rule-cases.js';
import { eliminateDeadCode } from '../src/ir/passes.js';

describe('gradient rules: Transpose, Expand', () => {
  for (const dynamic of both) {
    it(`Transpose perm [0,2,1,3] (attention heads) (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4, 2] }, forward: (b, v) => b.transpose(v.x!, [0, 2, 1, 3]) });
    });
    it(`Transpose perm [2,0,1] (a 3-cycle, whose inverse differs) (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.transpose(v.x!, [2, 0, 1]) });
    });
    it(`Transpose without perm (reversed axes) (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.op('Transpose', [v.x!]) });
    });
    it(`Expand [3,1] to [2,3,4] and [4] to [3,1] -> [3,4] (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 1], z: [4] },
        forward: (b, v) => [b.op('Expand', [v.x!, b.int64([2, 3, 4])]), b.op('Expand', [v.z!, b.int64([3, 1])])],
      });
    });
  }
  it('Expand to a run-time shape (fed, unknown at build time)', async () => {
    await gradcheck({
      params: { x: [1, 3, 1] },
      feeds: { s: { dtype: 'int64', shape: [4], data: [2, 1, 3, 4] } },
      forward: (b, v) => b.op('Expand', [v.x!, v.s!]),
    });
  });
  it('a transpose of a transpose is built as one transpose of the inner input, or none where the two cancel', async () => {
    const g = new Graph('transpose-twice');
    const x = g.value('x');
    x.type = { elemType: DataType.FLOAT, shape: [2, 3, 4] };
    g.appendInputs(x);
    const b = new Builder(g, { opset: 17 });
    assert.equal(b.transpose(b.transpose(x, [2, 0, 1]), [1, 2, 0]), x);
    const y = b.transpose(b.transpose(x, [1, 2, 0]), [1, 2, 0]);
    assert.equal(y.producer?.inputs[0], x);
    g.setOutputs([y]);
    eliminateDeadCode(g);
    assert.equal(g.nodes.length, 1);
    const xs = Array.from({ length: 24 }, (_, i) => i);
    const out = (await (await session(newModel(g, 17))).run({ x: tensor('float32', [2, 3, 4], xs) }))[y.name]!;
    // Transposing by [1,2,0] twice is transposing by [2,0,1]: y[c][a][b] = x[a][b][c].
    const want: number[] = [];
    for (let c = 0; c < 4; c++) for (let a = 0; a < 2; a++) for (let r = 0; r < 3; r++) want.push(xs[a * 12 + r * 4 + c]!);
    assert.deepEqual([...out.dims], [4, 2, 3]);
    assert.deepEqual(Array.from(out.data as Float32Array), want);
  });
  it('Transpose with a perm that is not a permutation throws a GraphError naming the node', () => {
    assert.throws(
      () => differentiateOnly([2, 3], (b, x) => b.op('Transpose', [x], { perm: [0, 0] }, 'bad_perm')),
      (e: unknown) => e instanceof GraphError && /Transpose node 'fwd\/bad_perm'/.test(e.message) && /not a permutation/.test(e.message),
    );
  });
});
