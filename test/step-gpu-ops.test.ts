/**
 * Builds for GPU execution providers (build/gpu-ops.ts, target 'gpu'), checked on the CPU: the rewrites keep
 * the numbers, the fan-in limit holds in every model of every build, no float64 is left in a GPU build, and
 * its float32 AdamW scalars stay within float32 rounding of PyTorch's float64 ones. test/webgpu.test.ts runs
 * the same builds on the WebGPU provider.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import { buildStepGraph } from '../src/step/step-graph.js';
import { makeTensor } from '../src/onnx/tensor.js';
import { createOptimizer } from '../src/optim/index.js';
import { MAX_STORAGE_BUFFERS, limitFanIn, lowerForGpu } from '../src/step/gpu-ops.js';
import { Builder } from '../src/ir/builder.js';
import { type Model, modelFromProto, newModel } from '../src/ir/convert.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import type { GraphProto } from '../src/onnx/proto.js';
import { loadModel } from '../src/onnx/model-io.js';
import { oneMinusPower } from '../src/optim/adamw.js';
import { TrainerSession } from '../src/runtime/trainer-session.js';
import { MODELS } from './helpers/fixtures.js';
import { session, tensor, toNumbers } from './helpers/ort.js';
import { rng } from './helpers/rng.js';
import { compareRun, loadStepReference } from './helpers/step-reference.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-gpu-build-'));
const model = (n: string) => path.join(MODELS, n, 'model.onnx');
const random = (n: number, seed: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => r() * 4 - 2);
};

/** Runs `m` on the CPU provider before and after `rewrite`; both outputs. */
async function beforeAfter(m: Model, feed: Record<string, ReturnType<typeof tensor>>, rewrite: (g: Graph) => void) {
  const before = await (await session(m)).run(feed);
  rewrite(m.graph);
  const after = await (await session(m)).run(feed);
  return { before, after };
}

/** Storage buffers a WebGPU kernel binds: every tensor input and output (Split's sizes input is read on the host). */
const storageBuffers = (op: string, inputs: number, outputs: number) => (op === 'Split' ? 1 : inputs) + outputs;

/** Every node of a graph and its subgraphs (Loop and Scan bodies). */
function* allNodes(g: GraphProto): Generator<GraphProto['node'][number]> {
  for (const n of g.node) {
    yield n;
    for (const a of n.attribute) {
      if (a.g) yield* allNodes(a.g);
      for (const sub of a.graphs ?? []) yield* allNodes(sub);
    }
  }
}

describe('limitFanIn: Concat, Split and Sum within WebGPU\'s 8 storage buffers per shader stage', () => {
  it('a 25-input Concat, a 12-output Split and a 10-input Sum become trees with the same results', async () => {
    const g = new Graph('fan');
    const xs = Array.from({ length: 25 }, (_, i) => g.addInput(`x${i}`, { elemType: DataType.FLOAT, shape: [i % 3 + 1] }));
    const b = new Builder(g, { opset: 17 });
    const cat = b.op('Concat', xs, { axis: 0 });
    const parts = b.opN('Split', [cat, b.int64(xs.map((_, i) => i % 3 + 1).slice(0, 12).concat([xs.slice(12).reduce((s, _, i) => s + ((i + 12) % 3 + 1), 0)]))], 13, { axis: 0 });
    const sum = b.op('Sum', xs.slice(0, 10).map((x) => b.op('ReduceSum', [x, b.int64([0])], { keepdims: 1 })));
    g.setOutputs([b.op('Identity', [cat]), ...parts.map((p) => b.op('Identity', [p])), b.op('Identity', [sum])]);
    const feed = Object.fromEntries(xs.map((x, i) => [x.name, tensor('float32', [i % 3 + 1], random(i % 3 + 1, i))]));
    const m = newModel(g, 17);
    const { before, after } = await beforeAfter(m, feed, (gr) => assert.equal(limitFanIn(gr, 17).rewritten, 3));
    for (const n of m.graph.nodes) {
      if (['Concat', 'Split', 'Sum'].includes(n.opType)) assert.ok(storageBuffers(n.opType, n.inputs.length, n.outputs.length) <= MAX_STORAGE_BUFFERS, n.describe());
    }
    for (const name of Object.keys(before)) {
      const [x, y] = [toNumbers(before[name]!), toNumbers(after[name]!)];
      if (name === g.outputs.at(-1)!.name) x.forEach((v, i) => assert.ok(Math.abs(v - y[i]!) <= 1e-6 * Math.abs(v), `${name}[${i}]`));
      else assert.deepEqual(y, x, name);
    }
  });

  it('holds in every model of a CPU and a GPU build, Loop bodies included', () => {
    for (const target of ['cpu', 'gpu'] as const) {
      const outDir = fs.mkdtempSync(path.join(tmp, `fan-${target}-`));
      const m = buildTrainingArtifacts({ student: model('bert-student'), teacher: model('bert-teacher'), task: 'seq-cls', optimizer: 'adamw', accumulationSteps: 2, target, outDir });
      const files = [m.models.train_step, m.models.train_loop, m.models.eval, m.models.train_grad, ...Object.values(m.models.train_update), ...(m.models.fetch_state ? [m.models.fetch_state, m.models.fetch_metrics!] : [])];
      for (const file of files) {
        for (const n of allNodes(loadModel(path.join(outDir, file)).model.graph!)) {
          if (['Concat', 'Split', 'Sum'].includes(n.opType!)) assert.ok(storageBuffers(n.opType!, n.input.length, n.output.length) <= MAX_STORAGE_BUFFERS, `${target} ${file}: ${n.opType} ${n.name} has ${n.input.length} inputs and ${n.output.length} outputs`);
        }
      }
    }
  });
});

describe('lowerForGpu: ops the WebGPU provider has no kernel for', () => {
  it('LogSoftmax, Sum, a float ConstantOfShape and a boolean Slice give the same results rewritten', async () => {
    const g = new Graph('lower');
    const x = g.addInput('x', { elemType: DataType.FLOAT, shape: [3, 5] });
    const b = new Builder(g, { opset: 17 });
    const logp = b.op('LogSoftmax', [b.mul(x, b.scalar(30, DataType.FLOAT))], { axis: -1 }); // large logits: the max shift matters
    const total = b.op('Sum', [x, logp, b.op('Exp', [x])]);
    const fill = b.op('ConstantOfShape', [b.shape(x)], { value: { dataType: DataType.FLOAT, dims: [1], floatData: [0.25], name: '' } as never });
    const mask = b.op('Slice', [b.op('Greater', [x, b.scalar(0, DataType.FLOAT)]), b.int64([1]), b.int64([3]), b.int64([1])]);
    g.setOutputs([b.op('Identity', [total]), b.op('Identity', [fill]), b.op('Cast', [mask], { to: DataType.FLOAT })]);
    const m = newModel(g, 17);
    const { before, after } = await beforeAfter(m, { x: tensor('float32', [3, 5], random(15, 3)) }, (gr) => {
      assert.deepEqual(lowerForGpu(gr, 17).rewritten, { LogSoftmax: 1, Sum: 1, ConstantOfShape: 1, Slice: 1 });
    });
    const ops = new Set(m.graph.nodes.map((n) => n.opType));
    for (const op of ['LogSoftmax', 'Sum', 'ConstantOfShape']) assert.ok(!ops.has(op), op);
    for (const name of Object.keys(before)) {
      const [p, q] = [toNumbers(before[name]!), toNumbers(after[name]!)];
      p.forEach((v, i) => assert.ok(Math.abs(v - q[i]!) <= 1e-5 * Math.max(1, Math.abs(v)), `${name}[${i}]: ${q[i]} against ${v}`));
    }
  });

  it('a GPU build has no float64 and none of those ops in the models a GPU run opens', () => {
    const outDir = fs.mkdtempSync(path.join(tmp, 'gpu-'));
    const m = buildTrainingArtifacts({ student: model('gpt2-student'), teacher: model('gpt2-teacher'), task: 'causal-lm', optimizer: 'adamw', target: 'gpu', outDir });
    assert.equal(m.target, 'gpu');
    for (const file of [m.models.train_step, m.models.eval, m.models.fetch_state!, m.models.fetch_metrics!]) {
      const proto = loadModel(path.join(outDir, file)).model;
      const ir = modelFromProto(proto);
      for (const n of ir.graph.nodes) {
        assert.ok(!['LogSoftmax', 'Sum', 'Loop', 'Scan'].includes(n.opType), `${file}: ${n.describe()}`);
        if (n.opType === 'Cast') assert.notEqual(n.attrs.int('to', 0), DataType.DOUBLE, `${file}: ${n.describe()}`);
        for (const v of n.outputs) assert.notEqual(v?.type.elemType, DataType.DOUBLE, `${file}: ${v?.name} is float64`);
      }
      for (const t of proto.graph!.initializer) assert.notEqual(t.dataType, DataType.DOUBLE, `${file}: initializer ${t.name}`);
    }
  });

  it('a float64 student cannot be built for the GPU, with a message that says why', () => {
    const g = new Graph('mlp64');
    const x = g.addInput('x', { elemType: DataType.DOUBLE, shape: ['batch', 4] });
    const w = g.addInitializer(makeTensor('w', DataType.DOUBLE, [4, 2], new Float64Array(8).fill(0.5)));
    const logits = new Builder(g, { opset: 17 }).op('MatMul', [x, w]);
    g.setOutputs([g.rename(logits, 'logits')]);
    assert.throws(() => buildStepGraph(newModel(g, 17), { task: 'seq-cls', optimizer: createOptimizer('sgd', {}), teacher: false, target: 'gpu' }),
      /float32 student \(GPU providers have no float64 kernels\); its logits are float64/);
  });
});

describe("AdamW's per-step scalars in float32 (GPU builds)", () => {
  it('1 - beta^t by -expm1(t ln beta) stays within float32 rounding of float64 where the direct form does not', async () => {
    const steps = Array.from({ length: 20000 }, (_, i) => i + 1);
    const g = new Graph('bias-correction');
    const t = g.addInput('t', { elemType: DataType.FLOAT, shape: [steps.length] });
    const b = new Builder(g, { opset: 17 });
    const betas = [0.9, 0.999, 0.98];
    g.setOutputs(betas.flatMap((beta) => [b.op('Identity', [oneMinusPower(b, beta, t, DataType.FLOAT)]), b.op('Identity', [b.sub(b.scalar(1, DataType.FLOAT), b.op('Pow', [b.scalar(beta, DataType.FLOAT), t]))])]));
    const out = await (await session(newModel(g, 17))).run({ t: tensor('float32', [steps.length], steps) });
    betas.forEach((beta, k) => {
      const worst = (name: string) => Math.max(...toNumbers(out[name]!).map((v, i) => Math.abs(v - (1 - beta ** steps[i]!)) / (1 - beta ** steps[i]!)));
      const kahan = worst(g.outputs[2 * k]!.name);
      const direct = worst(g.outputs[2 * k + 1]!.name);
      // float32's unit roundoff is 6e-8; the direct form loses digits to cancellation near t = 1.
      assert.ok(kahan < 5e-7, `beta ${beta}: -expm1 form off by ${kahan.toExponential(2)}`);
      // 0.999 is not a float32 number: 1 - 0.999f^1 is off by 1.3e-5 relative, which the updates inherited.
      if (beta === 0.999) assert.ok(direct > 1e-5, `beta ${beta}: direct form ${direct.toExponential(2)}, -expm1 ${kahan.toExponential(2)}`);
      console.log(`# beta ${beta}, t = 1..${steps.length}: worst relative error against float64, -expm1 form ${kahan.toExponential(2)}, direct float32 form ${direct.toExponential(2)}`);
    });
  });

  it('five AdamW steps of a GPU build on the CPU provider: the float64 build\'s updates to 1e-5', async () => {
    const runs = [];
    for (const target of ['cpu', 'gpu'] as const) {
      const r = await loadStepReference(MODELS, 'bert-student.adamw.ref.safetensors', tmp, target);
      const s = await TrainerSession.open(r.outDir, { threads: 2 });
      const initial = new Map([...s.parameterArrays()].map(([k, v]) => [k, Float64Array.from(v)]));
      const metrics = await s.train(r.batches, r.lrs, r.hyper);
      runs.push({ metrics, initial, final: new Map([...s.parameterArrays()].map(([k, v]) => [k, Float64Array.from(v)])), meta: r.meta });
      await s.release();
    }
    const [cpu, gpu] = runs as [(typeof runs)[0], (typeof runs)[0]];
    const c = compareRun(gpu, cpu, cpu.meta);
    assert.deepEqual([...c.terms, ...c.updates], []);
    assert.ok(c.worstUpdate.rel < 1e-5, `worst update ${c.worstUpdate.rel.toExponential(2)} (${c.worstUpdate.name})`);
  });
});
