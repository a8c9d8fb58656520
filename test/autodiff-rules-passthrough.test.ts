/**
 * Gradient rules of the pass-through ops: Identity, Cast, CastLike, Dropout. Training-mode Dropout is random,
 * so it is checked directly: one run returns the mask and the gradient, and the gradient must be
 * seed * mask / (1 - ratio) elementwise. Inference-mode Dropout (and ratio 0) is checked by finite differences.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type ort from 'onnxruntime-node';
import { differentiate } from '../src/autodiff/differentiate.js';
import { ruleFor } from '../src/autodiff/rules/index.js';
import { Builder } from '../src/ir/builder.js';
import { newModel } from '../src/ir/convert.js';
import { Graph, type Value } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { makeTensor, typedFromNumbers } from '../src/onnx/tensor.js';
import { gradcheck } from './helpers/gradcheck.js';
import { session, tensor, toNumbers } from './helpers/ort.js';
import { rng, uniform } from './helpers/rng.js';
import { eliminateDeadCode } from '../src/ir/passes.js';

const boolConst = (b: Builder, v: boolean) => b.constant(makeTensor('', DataType.BOOL, [], typedFromNumbers(DataType.BOOL, [v ? 1 : 0])));

describe('gradient rules: Identity, Cast, CastLike', () => {
  it('Identity: static and run-time shapes', async () => {
    for (const dynamic of [false, true]) {
      await gradcheck({ dynamic, params: { a: [2, 3] }, forward: (b, v) => b.mul(b.op('Identity', [v.a!]), v.a!) });
    }
  });
  it('Cast float64 -> float32 -> float64: the gradient is cast back (it joins a float64 sum), static and run-time', async () => {
    for (const dynamic of [false, true]) {
      await gradcheck({
        dynamic, eps: 1e-2, rtol: 1e-4, atol: 1e-5,
        params: { a: [3, 4] },
        forward: (b, v) => {
          const f = b.op('Cast', [v.a!], { to: DataType.FLOAT });
          return b.add(v.a!, b.op('Cast', [b.mul(f, f)], { to: DataType.DOUBLE }));
        },
      });
    }
  });
  it('Cast to int64 carries no gradient (the rule lists no differentiable input), other paths still do', async () => {
    await gradcheck({
      params: { a: { shape: [2, 5], lo: -0.9, hi: 0.9 } },
      forward: (b, v) => b.add(v.a!, b.op('Cast', [b.op('Cast', [b.mul(v.a!, v.a!)], { to: DataType.INT64 })], { to: DataType.DOUBLE })),
    });
    const g = new Graph('cast');
    const a = g.value('a');
    const bld = new Builder(g, { opset: 17 });
    const toInt = bld.op('Cast', [a], { to: DataType.INT64 }).producer!;
    const toHalf = bld.op('Cast', [a], { to: DataType.FLOAT16 }).producer!;
    const rule = ruleFor(toInt)!;
    assert.equal(typeof rule.differentiable, 'function');
    const d = rule.differentiable as (n: typeof toInt) => readonly number[];
    assert.deepEqual(d(toInt), []);
    assert.deepEqual(d(toHalf), [0]);
  });
  it('CastLike float64 -> float32 -> float64 (opset 15 and 21)', async () => {
    for (const opset of [15, 21]) {
      await gradcheck({
        opset, eps: 1e-2, rtol: 1e-4, atol: 1e-5,
        params: { a: [3, 2] },
        consts: { f32: { dtype: 'float32', shape: [], data: [0] } },
        forward: (b, v) => {
          const f = b.op('CastLike', [v.a!, v.f32!]);
          return b.op('CastLike', [b.mul(f, f), v.a!]);
        },
      });
    }
  });
});

/**
 * One run of Dropout in training mode: returns x, the seed, the mask, the output and the gradient of x.
 * `ratio`: a number (initializer or Constant node) or 'feed' (a float32 run-time input holding `ratioValue`).
 */
async function dropoutRun(c: {
  ratio: { kind: 'initializer' | 'constant' | 'feed' | 'absent'; value: number };
  mode: { kind: 'initializer' | 'constant' | 'feed'; value: boolean };
  keepMask: boolean;
  opset?: number;
  dynamic?: boolean;
}) {
  const opset = c.opset ?? 17;
  const shape = [4, 50];
  const n = 200;
  const r = rng(99);
  const xs = uniform(r, n, -1, 1);
  const seed = uniform(r, n, -1, 1);
  const g = new Graph('dropout');
  const input = (name: string, elemType: DataType, dims: (number | string)[]) => {
    const v = g.value(name);
    v.type = { elemType, shape: dims };
    g.appendInputs(v);
    return v;
  };
  const dims = c.dynamic ? ['n', 'm'] : shape;
  const x = input('x', DataType.DOUBLE, dims);
  const s = input('s', DataType.DOUBLE, dims);
  const b = new Builder(g, { opset, prefix: 'fwd/' });
  const feed: Record<string, ort.Tensor> = { x: tensor('float64', shape, xs), s: tensor('float64', shape, seed) };
  let ratio: Value | null = null;
  if (c.ratio.kind === 'initializer') {
    ratio = g.addInitializer(makeTensor('ratio', DataType.FLOAT, [], typedFromNumbers(DataType.FLOAT, [c.ratio.value])));
    ratio.type = { elemType: DataType.FLOAT, shape: [] };
  } else if (c.ratio.kind === 'constant') {
    ratio = b.scalar(c.ratio.value, DataType.DOUBLE);
  } else if (c.ratio.kind === 'feed') {
    ratio = input('ratio', DataType.FLOAT, []);
    feed.ratio = tensor('float32', [], [c.ratio.value]);
  }
  let mode: Value;
  if (c.mode.kind === 'initializer') {
    mode = g.addInitializer(makeTensor('mode', DataType.BOOL, [], typedFromNumbers(DataType.BOOL, [c.mode.value ? 1 : 0])));
    mode.type = { elemType: DataType.BOOL, shape: [] };
  } else if (c.mode.kind === 'constant') {
    mode = boolConst(b, c.mode.value);
  } else {
    mode = input('mode', DataType.BOOL, []);
    feed.mode = tensor('bool', [], [c.mode.value ? 1 : 0]);
  }
  const outs = b.opN('Dropout', [x, ratio, mode], c.keepMask ? 2 : 1);
  const node = outs[0]!.producer!;
  const res = differentiate(g, { seeds: new Map([[outs[0]!, s]]), wrt: [x], opset });
  const grad = res.gradients.get('x')!;
  const mask = node.outputs[1];
  assert.ok(mask, 'the backward pass reads (and, if missing, adds) the mask output');
  g.setOutputs([grad, mask, outs[0]!]);
  eliminateDeadCode(g);
  const run = await (await session(newModel(g, opset))).run(feed);
  return {
    xs, seed, nodes: res.nodesAdded,
    grad: toNumbers(run[grad.name]!), mask: toNumbers(run[mask.name]!), y: toNumbers(run[outs[0]!.name]!),
  };
}

function assertDropoutGrad(r: Awaited<ReturnType<typeof dropoutRun>>, ratio: number) {
  const kept = r.mask.filter((m) => m).length;
  assert.ok(kept > 0 && kept < r.mask.length, `mask must mix kept and dropped elements (kept ${kept}/${r.mask.length})`);
  r.grad.forEach((g, i) => {
    const want = (r.seed[i]! * r.mask[i]!) / (1 - ratio);
    const fwd = (r.xs[i]! * r.mask[i]!) / (1 - ratio);
    assert.ok(Math.abs(r.y[i]! - fwd) < 1e-6, `forward y[${i}] = ${r.y[i]}, x*mask/(1-ratio) = ${fwd}`);
    assert.ok(Math.abs(g - want) < 1e-6 * (1 + Math.abs(want)), `grad[${i}] = ${g}, seed*mask/(1-ratio) = ${want}`);
  });
}

describe('gradient rules: Dropout', () => {
  it('training mode, ratio 0.3 initializer, constant training_mode, mask in the model', async () => {
    const r = await dropoutRun({ ratio: { kind: 'initializer', value: 0.3 }, mode: { kind: 'constant', value: true }, keepMask: true });
    assertDropoutGrad(r, 0.3);
    assert.ok(r.nodes <= 4, `${r.nodes} backward nodes`);
  });
  it('training mode, ratio 0.5 from a Constant node, training_mode initializer, mask omitted by the model (added), opset 13', async () => {
    const r = await dropoutRun({ ratio: { kind: 'constant', value: 0.5 }, mode: { kind: 'initializer', value: true }, keepMask: false, opset: 13 });
    assertDropoutGrad(r, 0.5);
  });
  it('training mode, default ratio (input omitted) at opset 21', async () => {
    const r = await dropoutRun({ ratio: { kind: 'absent', value: 0 }, mode: { kind: 'constant', value: true }, keepMask: true, opset: 21 });
    assertDropoutGrad(r, 0.5);
  });
  it('training mode, ratio and training_mode fed at run time (float32 ratio on float64 data), run-time shapes', async () => {
    const r = await dropoutRun({ ratio: { kind: 'feed', value: 0.25 }, mode: { kind: 'feed', value: true }, keepMask: false, dynamic: true });
    assertDropoutGrad(r, 0.25);
  });
  it('run-time training_mode false: the gradient is the seed (inference mode is the identity)', async () => {
    const r = await dropoutRun({ ratio: { kind: 'feed', value: 0.4 }, mode: { kind: 'feed', value: false }, keepMask: true });
    assert.deepEqual(r.grad, r.seed);
  });
  it('inference mode by finite differences: no training_mode, ratio only, constant false; static and run-time', async () => {
    for (const dynamic of [false, true]) {
      const rep = await gradcheck({
        dynamic,
        params: { a: [3, 4] },
        consts: { ratio: { dtype: 'float64', shape: [], data: [0.3] }, off: { dtype: 'bool', shape: [], data: [0] } },
        forward: (b, v) => [b.op('Dropout', [v.a!]), b.op('Dropout', [v.a!, v.ratio!]), b.op('Dropout', [v.a!, v.ratio!, v.off!])],
      });
      assert.ok(rep.backwardNodes <= 2, `identity needs no nodes beyond accumulation (${rep.backwardNodes})`);
    }
  });
  it('training mode with ratio 0 by finite differences (deterministic)', async () => {
    await gradcheck({
      params: { a: [3, 4] },
      consts: { ratio: { dtype: 'float64', shape: [], data: [0] }, on: { dtype: 'bool', shape: [], data: [1] } },
      forward: (b, v) => b.mul(b.op('Dropout', [v.a!, v.ratio!, v.on!]), v.a!),
    });
  });
});
