/** The split step of low-memory mode (src/step/split-step.ts): train_grad and train_update. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import { loadModel } from '../src/onnx/model-io.js';
import { createSession } from '../src/runtime/session.js';
import { MODELS } from './helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-build-'));
const model = (name: string) => path.join(MODELS, name, 'model.onnx');

describe('the split step of low-memory mode (build/split-step.ts)', () => {
  const out = path.join(tmp, 'split');
  const m = buildTrainingArtifacts({
    student: model('bert-student'), teacher: model('bert-teacher'), task: 'seq-cls', optimizer: 'adamw',
    optimizerSettings: { weightDecay: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-6 }, accumulationSteps: 2, outDir: out,
  });

  it('train_grad.onnx takes what the gradients need and returns the metrics, the clipping scale and every gradient', () => {
    const g = loadModel(path.join(out, m.models.train_grad)).model.graph!;
    const inputs = g.input.map((i) => i.name).sort();
    const accumulators = m.state.filter((st) => st.name.endsWith('.grad_accum')).map((st) => st.name);
    assert.equal(accumulators.length, m.parameters.length);
    const want = [...m.batch.map((b) => b.name), 'alpha', 'temperature', 'max_grad_norm', ...m.parameters.map((p) => p.name), ...accumulators].sort();
    assert.deepEqual(inputs, want, 'no optimizer state, lr, step or apply_update');
    assert.deepEqual(g.output.map((o) => o.name), [...m.metrics, m.split_step.grad_scale, ...m.split_step.gradients.map((x) => x.output)]);
    assert.deepEqual(m.split_step.gradients.map((x) => x.param), m.parameters.map((p) => p.name));
    assert.ok(!g.node.some((n) => n.name?.includes('adamw')), 'the update is gone');
    assert.deepEqual(g.node.filter((n) => n.domain && n.domain !== 'ai.onnx').map((n) => n.opType), []);
  });

  it('has an update model without weight decay for the no-decay group (biases, LayerNorm weights)', () => {
    assert.deepEqual(Object.keys(m.models.train_update).sort(), ['float32', 'float32.no_decay']);
    const noDecay = m.parameters.filter((p) => !p.decay).map((p) => p.name);
    assert.ok(noDecay.length > 0 && noDecay.every((n) => /bias|LayerNorm/.test(n)), noDecay.join(', '));
    assert.ok(m.parameters.some((p) => p.decay && /attention\.self\.query\.weight/.test(p.name)));
  });

  for (const [key, wd] of [['float32', 0.01], ['float32.no_decay', 0]] as const) {
  it(`train_update (${key}) is torch.optim.AdamW's step on a chunk with weight decay ${wd} (the formula in float64), written in place`, async () => {
    const io = m.split_step.update;
    const session = await createSession(path.join(out, m.models.train_update[key]!), { threads: 1 });
    const n = 1000;
    const rnd = (k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3 + k) * (k + 1));
    const [p, g, m1] = [rnd(0), rnd(1), rnd(2)];
    const v = rnd(3).map(Math.abs);
    const [lr, step, c] = [0.003, 7, 0.4];
    const before = { p: Float64Array.from(p), g: Float64Array.from(g), m: Float64Array.from(m1), v: Float64Array.from(v) };
    const t = (a: Float32Array) => new ort.Tensor('float32', a, [n]);
    const tensors = { p: t(p), m: t(m1), v: t(v) };
    const scalar = (x: number) => new ort.Tensor('float32', Float32Array.of(x), []);
    const feeds = { [io.inputs.param]: tensors.p, [io.inputs.grad]: t(g), [io.inputs.state[0]!]: tensors.m, [io.inputs.state[1]!]: tensors.v,
      [io.inputs.lr]: scalar(lr), [io.inputs.step]: scalar(step), [io.inputs.grad_scale]: scalar(c) };
    await session.run(feeds, { [io.outputs.param]: tensors.p, [io.outputs.state[0]!]: tensors.m, [io.outputs.state[1]!]: tensors.v });
    const [b1, b2, eps] = [0.8, 0.95, 1e-6];
    const lr32 = Math.fround(lr);
    // Float32 rounding, relative to the size of the terms each result sums (m and v can nearly cancel).
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const gi = before.g[i]! * Math.fround(c);
      const mi = b1 * before.m[i]! + (1 - b1) * gi;
      const vi = b2 * before.v[i]! + (1 - b2) * gi * gi;
      const denom = Math.sqrt(vi) / Math.sqrt(1 - b2 ** step) + eps;
      const stepTerm = (lr32 / (1 - b1 ** step)) * (mi / denom);
      const pi = before.p[i]! * (1 - lr32 * wd) - stepTerm;
      const scale = [Math.abs(before.p[i]!) + Math.abs(stepTerm), b1 * Math.abs(before.m[i]!) + (1 - b1) * Math.abs(gi), vi];
      [[p[i]!, pi], [m1[i]!, mi], [v[i]!, vi]].forEach(([got, want], k) => (worst = Math.max(worst, Math.abs(got! - want!) / scale[k]!)));
    }
    assert.ok(worst < 1e-6, `largest difference from the formula, relative to its terms: ${worst}`);
    await session.release();
  });
  }
});
