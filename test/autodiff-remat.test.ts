import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { differentiate } from '../src/autodiff/differentiate.js';
import { attr } from '../src/ir/attributes.js';
import { Builder } from '../src/ir/builder.js';
import { modelToProto, newModel } from '../src/ir/convert.js';
import { Graph, type Value } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { decodeModel, encodeModel } from '../src/onnx/model-io.js';
import { TRAINING_DISABLED_OPTIMIZERS, ortSessionOptions } from '../src/runtime/session.js';
import { gradcheck } from './helpers/gradcheck.js';
import { isRematerialized } from './helpers/graph.js';

/** GELU as exporters write it: (h * (1 + erf(h / sqrt 2))) * 0.5. */
function gelu(b: Builder, h: Value): Value {
  const scalar = (v: number) => b.scalar(v, DataType.FLOAT);
  const a = b.add(b.op('Erf', [b.div(h, scalar(Math.SQRT2))]), scalar(1));
  return b.mul(b.mul(h, a), scalar(0.5));
}

/** x -> h = x @ w1 -> GELU -> @ w2 -> Softmax, float32 (ORT has no float64 Erf). */
function mlp(b: Builder, v: Record<string, Value>): Value {
  const h = b.op('MatMul', [v.x!, v.w1!], {}, 'h');
  const z = b.op('MatMul', [gelu(b, h), v.w2!]);
  return b.op('Softmax', [z], { axis: -1 });
}

/** The MLP with the gradients of x, w1 and w2 as outputs (seeded with ones); `forward` holds its forward nodes. */
function mlpWithGradients() {
  const g = new Graph('remat');
  const v: Record<string, Value> = {};
  for (const [name, shape] of [['x', [4, 6]], ['w1', [6, 8]], ['w2', [8, 3]]] as const) {
    v[name] = g.addInput(name, { elemType: DataType.FLOAT, shape: [...shape] });
  }
  const b = new Builder(g, { opset: 17, prefix: 'fwd/' });
  const y = mlp(b, v);
  const forward = new Set(g.nodes);
  const seed = b.op('Expand', [b.op('Constant', [], { value_float: attr.float(1) }), b.int64([4, 3])]);
  const h = g.nodes.find((n) => n.name === 'fwd/h')!.output();
  const r = differentiate(g, { seeds: new Map([[y, seed]]), wrt: [v.x!, v.w1!, v.w2!], opset: 17 });
  assert.equal(r.gradients.size, 3);
  g.setOutputs([y, ...r.gradients.values()]);
  return { g, h, forward };
}

describe('rematerialization of cheap elementwise values', () => {
  it('GELU between two matrix products: gradients match finite differences', async () => {
    await gradcheck({ dtype: 'float32', params: { x: [4, 6], w1: [6, 8], w2: [8, 3] }, forward: mlp, rtol: 2e-3, atol: 2e-4, eps: 1e-2 });
  });

  it('GELU between two matrix products: the backward reads only h of the GELU, and copies of the rest', () => {
    const { g, h, forward } = mlpWithGradients();
    const backward = g.nodes.filter((n) => n.name.startsWith('grad/'));
    const readFromForward = new Set(backward.flatMap((n) => n.inputs).filter((u) => u?.producer && forward.has(u.producer)));
    const gelu = [...readFromForward].filter((u) => u!.producer!.opType !== 'Constant' && u!.producer!.opType !== 'Softmax');
    assert.deepEqual(gelu.map((u) => u!.name), [h.name]);
    // The GELU's gradient comes from its pattern rule, which reads h only. The copies recompute the GELU's
    // output, which dW2 reads: Div, Erf, Add for 1 + erf(h / sqrt 2), then Mul, Mul.
    assert.deepEqual(backward.filter(isRematerialized).map((n) => n.opType).sort(), ['Add', 'Div', 'Erf', 'Mul', 'Mul']);
    // Still topologically sorted: every input is produced before it is read.
    const seen = new Set(g.inputs);
    for (const n of g.nodes) {
      for (const u of n.inputs) if (u && !u.isInitializer) assert.ok(seen.has(u), `${n.describe()} reads ${u.name} before it is produced`);
      for (const o of n.outputs) if (o) seen.add(o);
    }
  });

  it("ONNX Runtime fuses the forward GELU and its recomputed copy apart only with the training sessions' optimizer settings", async () => {
    const { g } = mlpWithGradients();
    const bytes = encodeModel(modelToProto(newModel(g, 17)));
    const optimized = async (disabledOptimizers: readonly string[]) => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'remat-')), 'optimized.onnx');
      const session = await ort.InferenceSession.create(bytes, { ...ortSessionOptions({ threads: 1, disabledOptimizers }), optimizedModelFilePath: file });
      await session.release();
      const nodes = decodeModel(fs.readFileSync(file), file).graph!.node;
      fs.rmSync(path.dirname(file), { recursive: true });
      return { copies: nodes.filter((n) => n.name?.includes('/remat/')).length, gelu: nodes.filter((n) => n.opType === 'Gelu').length };
    };
    // Common-subexpression elimination merges the copies back into the forward nodes they repeat: one Gelu
    // whose output the backward reads, so it stays alive from the forward on. With CSE off, the copy chain
    // has single readers too and fuses into a second Gelu kernel that runs in the backward.
    assert.deepEqual(await optimized([]), { copies: 0, gelu: 1 });
    assert.deepEqual(await optimized(TRAINING_DISABLED_OPTIMIZERS), { copies: 0, gelu: 2 });
  });

  it('a value computed by a costly op (Softmax, MatMul) is read, not recomputed', () => {
    const g = new Graph('no-remat');
    const x = g.addInput('x', { elemType: DataType.FLOAT, shape: [2, 5] });
    const w = g.addInput('w', { elemType: DataType.FLOAT, shape: [5, 5] });
    const b = new Builder(g, { opset: 17, prefix: 'fwd/' });
    const p = b.op('Softmax', [b.op('MatMul', [x, w])], { axis: -1 });
    const loss = b.op('ReduceSum', [b.op('Log', [p])], { keepdims: 0 });
    g.setOutputs([loss]);
    differentiate(g, { loss, wrt: [x, w], opset: 17 });
    assert.equal(g.nodes.filter(isRematerialized).length, 0);
    assert.ok(p.uses.some((n) => n.name.startsWith('grad/')), 'the backward reads the Softmax output itself');
  });
});
