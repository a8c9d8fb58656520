import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { differentiate } from '../src/autodiff/differentiate.js';
import { Builder } from '../src/ir/builder.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { gradcheck } from './helpers/gradcheck.js';
import { both, kind } from './helpers/rule-cases.js';

describe('gradient rules: Pad (constant mode)', () => {
  for (const dynamic of both) {
    it(`pads before and after on two axes, MobileBERT's trigram shift (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 3, 4] },
        consts: { p: { dtype: 'int64', shape: [6], data: [0, 1, 0, 0, 0, 2] } },
        forward: (b, v) => b.op('Pad', [v.x!, v.p!]),
      });
    });
    it(`negative pads crop, mixed with positive ones (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 5] },
        consts: { p: { dtype: 'int64', shape: [4], data: [-1, 2, 1, -2] } },
        forward: (b, v) => b.op('Pad', [v.x!, v.p!]),
      });
    });
  }
  it('a constant value of 0.5 (it does not reach dx) and an axes input, opset 18', async () => {
    await gradcheck({
      opset: 18,
      params: { x: [2, 3, 4] },
      consts: {
        p: { dtype: 'int64', shape: [4], data: [1, 2, 3, 0] },
        c: { dtype: 'float64', shape: [], data: [0.5] },
        a: { dtype: 'int64', shape: [2], data: [-1, 1] },
      },
      forward: (b, v) => b.op('Pad', [v.x!, v.p!, v.c!, v.a!]),
    });
  });
  it('reflect mode: refused with the node named', () => {
    const g = new Graph('reflect');
    const x = g.value('x');
    x.type = { elemType: DataType.DOUBLE, shape: [2, 3] };
    g.appendInputs(x);
    const b = new Builder(g, { opset: 17, prefix: 'fwd/' });
    const y = b.op('Pad', [x, b.int64([0, 1, 0, 1])], { mode: 'reflect' }, 'reflect_pad');
    g.setOutputs([y]);
    assert.throws(() => differentiate(g, { loss: y, wrt: [x], opset: 17 }), /Pad node '(fwd\/)?reflect_pad': mode 'reflect' has no gradient rule/);
  });
});
