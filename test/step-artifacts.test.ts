/** `distill build` and the build library: artifacts, manifest, and the errors bad input gets. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import type { Manifest } from '../src/step/contract.js';
import { inPlaceViolations } from '../src/step/in-place.js';
import { InputError } from '../src/errors.js';
import { Builder } from '../src/ir/builder.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { loadModel } from '../src/onnx/model-io.js';
import { createSession } from '../src/runtime/session.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-build-'));
const model = (name: string) => path.join(MODELS, name, 'model.onnx');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('distill build', () => {
  it('writes the step, loop and eval models, the initial state and a manifest naming every tensor', () => {
    const out = path.join(tmp, 'cli');
    const r = run('build', '--teacher', model('bert-teacher'), '--student', model('bert-student'), '--task', 'seq-cls', '--optimizer', 'adamw', '--weight-decay', '0.01', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['train_step.onnx', 'train_loop.onnx', 'eval.onnx', 'train_grad.onnx', 'train_update.float32.onnx', 'initial_state.safetensors', 'manifest.json']) {
      assert.ok(fs.existsSync(path.join(out, f)), f);
    }
    const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    const step = loadModel(path.join(out, 'train_step.onnx')).model.graph!;
    const inputs = new Set(step.input.map((i) => i.name));
    const outputs = new Set(step.output.map((o) => o.name));
    for (const b of [...m.batch, ...m.hyperparameters]) assert.ok(inputs.has(b.name), `step input ${b.name}`);
    for (const p of [...m.parameters, ...m.state]) {
      assert.ok(inputs.has(p.name), `step input ${p.name}`);
      assert.ok(outputs.has(p.output), `step output ${p.output}`);
    }
    for (const k of m.metrics) assert.ok(outputs.has(k), `metric ${k}`);
    assert.deepEqual(m.batch.map((b) => b.name), ['input_ids', 'attention_mask', 'labels', 'teacher_logits']);
    assert.equal(m.state.length, 2 * m.parameters.length, 'AdamW keeps exp_avg and exp_avg_sq per parameter');
    assert.deepEqual(m.optimizer, { name: 'adamw', settings: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 } });
    // Only standard ops: no contrib domains anywhere in the step.
    assert.deepEqual(step.node.filter((n) => n.domain && n.domain !== 'ai.onnx').map((n) => n.opType), []);
    assert.match(r.stdout, /train_grad\.onnx, train_update\.float32\.onnx/);
    assert.match(r.stdout, /25 trained tensors/);
    // Small parameters share grouped updates by default; --no-grouped-update gives each its own.
    const grouping = (dir: string) => loadModel(path.join(dir, 'train_step.onnx')).model.graph!.node.filter((n) => n.name?.includes('update_group/')).length;
    assert.ok(grouping(out) > 0);
    const apart = path.join(tmp, 'cli-ungrouped');
    const r2 = run('build', '--student', model('bert-student'), '--task', 'seq-cls', '--optimizer', 'adamw', '--no-grouped-update', '--out', apart);
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(grouping(apart), 0);
    // The step and eval models compute the last layer for the [CLS] row only; --no-narrow-rows keeps it whole.
    const narrowing = (dir: string, f: string) => loadModel(path.join(dir, f)).model.graph!.node.filter((n) => n.name?.startsWith('narrow/')).length;
    assert.ok(narrowing(out, 'train_step.onnx') > 0 && narrowing(out, 'eval.onnx') > 0);
    const whole = path.join(tmp, 'cli-whole-rows');
    const r3 = run('build', '--student', model('bert-student'), '--task', 'seq-cls', '--optimizer', 'adamw', '--no-narrow-rows', '--out', whole);
    assert.equal(r3.status, 0, r3.stderr);
    assert.equal(narrowing(whole, 'train_step.onnx') + narrowing(whole, 'eval.onnx'), 0);
  });

  it('freezes parameters by glob: they stay constants of the graph and get no optimizer state', () => {
    const out = path.join(tmp, 'frozen');
    const m = buildTrainingArtifacts({ student: model('bert-student'), task: 'seq-cls', optimizer: 'sgd', optimizerSettings: { momentum: 0.9 }, freeze: ['bert.embeddings.*'], outDir: out });
    assert.ok(m.frozen.includes('bert.embeddings.word_embeddings.weight'));
    assert.ok(!m.parameters.some((p) => p.name.startsWith('bert.embeddings.')));
    assert.equal(m.teacher, null);
    assert.ok(!m.batch.some((b) => b.name === 'teacher_logits'), 'no teacher: plain fine-tuning');
    // The embedding gradients are not built at all: the word table's ScatterElements is gone (the position and
    // token-type tables, short, take one-hot products instead; see autodiff/rules/gather.ts).
    const scatters = (dir: string) => loadModel(path.join(dir, 'train_step.onnx')).model.graph!.node.filter((n) => n.opType === 'ScatterElements').length;
    const all = path.join(tmp, 'unfrozen');
    buildTrainingArtifacts({ student: model('bert-student'), task: 'seq-cls', optimizer: 'sgd', optimizerSettings: { momentum: 0.9 }, outDir: all });
    assert.equal(scatters(all) - scatters(out), 1);
  });

  describe('bad input: one clear error naming what differs', () => {
    it('teacher and student with different label counts', () => {
      assert.throws(
        () => buildTrainingArtifacts({ teacher: model('bert-tokcls'), student: model('bert-student'), task: 'seq-cls', optimizer: 'sgd', outDir: path.join(tmp, 'x1') }),
        (e: Error) => e instanceof InputError && /teacher and student differ in label count: .*bert-tokcls.* has 3, .*bert-student.* has 2/.test(e.message),
      );
    });
    it('teacher and student with different vocabularies', () => {
      assert.throws(
        () => buildTrainingArtifacts({ teacher: model('bert-teacher'), student: model('gpt2-student'), task: 'causal-lm', optimizer: 'sgd', outDir: path.join(tmp, 'x2') }),
        (e: Error) => e instanceof InputError && /differ in vocabulary size: .* has 2, .* has 2000/.test(e.message),
      );
    });
    it('a student without the named logits output', () => {
      const r = run('build', '--student', model('bert-student'), '--task', 'seq-cls', '--logits', 'scores', '--out', path.join(tmp, 'x3'));
      assert.equal(r.status, 2);
      assert.match(r.stderr, /^distill: the student has no output 'scores' \(its outputs: logits\)/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    });
    it('an unknown task', () => {
      const r = run('build', '--student', model('bert-student'), '--task', 'translation', '--out', path.join(tmp, 'x4'));
      assert.equal(r.status, 2);
      assert.match(r.stderr, /^distill: Invalid values: Argument: task, Given: "translation", Choices: "seq-cls", "token-cls", "causal-lm"/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  });
});

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

describe('in-place check (build/in-place.ts)', () => {
  // y = Relu(x) + Neg(x): both readers of x are ancestors of y's producer, so y may overwrite x. Adding
  // z = Sigmoid(x) as an output breaks that: Sigmoid is no ancestor of y's producer and could read x late.
  const graph = (withLateReader: boolean) => {
    const g = new Graph('g');
    const b = new Builder(g, { opset: 17 });
    const x = g.value('x');
    x.type = { elemType: DataType.FLOAT, shape: [4] };
    g.inputs.push(x);
    const y = b.add(b.op('Relu', [x]), b.op('Neg', [x]));
    g.outputs = withLateReader ? [y, b.op('Sigmoid', [x])] : [y];
    return { g, y: y.name };
  };
  it('accepts an output whose producer comes after every reader of the input', () => {
    const { g, y } = graph(false);
    assert.deepEqual(inPlaceViolations(g, [{ input: 'x', output: y }]), []);
  });
  it('names the node that may read the input after the output is written', () => {
    const { g, y } = graph(true);
    const bad = inPlaceViolations(g, [{ input: 'x', output: y }]);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^x -> .*Sigmoid.*may read the input after the output is written/);
  });
  it('follows views: a late reader of Reshape(x) is a late reader of x, since ORT may alias the two', () => {
    // y = Relu(Reshape(x)) and z = Sigmoid(Reshape(x)): x's only direct reader (the Reshape) is an ancestor
    // of y, but Sigmoid reads the same buffer through the view and may run after y is written.
    const g = new Graph('g');
    const b = new Builder(g, { opset: 17 });
    const x = g.value('x');
    x.type = { elemType: DataType.FLOAT, shape: [4] };
    g.inputs.push(x);
    const view = b.reshape(x, [2, 2]);
    const y = b.op('Relu', [view]);
    g.outputs = [y, b.op('Sigmoid', [view])];
    const bad = inPlaceViolations(g, [{ input: 'x', output: y.name }]);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^x -> .*Sigmoid.*may read the input after the output is written/);
    g.outputs = [y];
    g.eliminateDeadCode();
    assert.deepEqual(inPlaceViolations(g, [{ input: 'x', output: y.name }]), []);
  });
  it('the built training steps pass it: BERT AdamW and GPT-2 (tied embedding) SGD with accumulation', () => {
    for (const [student, optimizer, accumulationSteps] of [['bert-student', 'adamw', 1], ['gpt2-student', 'sgd', 2]] as const) {
      const m = buildTrainingArtifacts({ student: model(student), task: student.startsWith('gpt2') ? 'causal-lm' : 'seq-cls', optimizer, accumulationSteps, outDir: path.join(tmp, `inplace-${student}`) });
      assert.deepEqual(m.in_place, { safe: true, violations: [] }, student);
    }
  });
});

describe('execution providers', () => {
  it('--ep cuda without the CUDA provider installed says how to install it', async () => {
    await assert.rejects(createSession(model('bert-student'), { ep: 'cuda' }), (e: Error) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /--ep cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12/);
      return true;
    });
  });
  it('--ep webgpu runs the model where a GPU adapter exists, and explains itself where none does', async () => {
    try {
      const s = await createSession(model('bert-student'), { ep: 'webgpu' });
      assert.ok(s.inputNames.includes('input_ids'));
    } catch (e) {
      assert.ok(e instanceof InputError, String(e));
      assert.match((e as Error).message, /--ep webgpu: .*GPU/);
    }
  });
});
