import { describe, it } from 'node:test';
import { gradcheck } from './helpers/gradcheck.js';
import { both, kind } from './helpers/rule-cases.js';

describe('gradient rules: Reshape, Flatten, Squeeze, Unsqueeze', () => {
  for (const dynamic of both) {
    it(`Reshape [2,3,4] -> [4,6] (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.reshape(v.x!, [4, 6]) });
    });
    it(`Reshape with 0 (copy) and -1 in the target, HF head split [2,3,4] -> [2,3,2,2] (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.reshape(v.x!, [0, 0, 2, -1]) });
    });
    it(`Flatten axis 2 and axis -1 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 3, 4], z: [3, 2, 2] },
        forward: (b, v) => [b.op('Flatten', [v.x!], { axis: 2 }), b.op('Flatten', [v.z!], { axis: -1 })],
      });
    });
  }
  for (const opset of [13, 17, 21]) {
    for (const dynamic of both) {
      it(`Squeeze axes [1,-1] and Unsqueeze axes [0,-1] as inputs, opset ${opset} (${kind(dynamic)})`, async () => {
        await gradcheck({
          opset,
          dynamic,
          params: { x: [2, 1, 3, 1], z: [2, 3] },
          forward: (b, v) => [b.squeeze(v.x!, [1, -1]), b.unsqueeze(v.z!, [0, -1])],
        });
      });
    }
  }
  it('Squeeze without axes (all 1-dims, static)', async () => {
    await gradcheck({ params: { x: [1, 3, 1, 2] }, forward: (b, v) => b.op('Squeeze', [v.x!]) });
  });
  it('Reshape to a target computed from Shape(x) (exporter style): the backward reuses that Shape node', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [2, 3, 4] },
      forward: (b, v) => {
        const s = b.op('Shape', [v.x!]);
        const lead = b.op('Slice', [s, b.int64([0]), b.int64([2])]);
        return b.reshape(b.transpose(b.reshape(v.x!, b.op('Concat', [lead, b.int64([2, 2])], { axis: 0 })), [0, 2, 1, 3]), [0, 0, -1]);
      },
    });
  });
  it('Reshape chained with a Mul (the reshaped gradient feeds another rule)', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [2, 6], w: [3, 4] },
      forward: (b, v) => b.mul(b.reshape(v.x!, [3, 4]), v.w!),
    });
  });
});
