/** `distill build` and the build library: artifacts, manifest, and the errors bad input gets. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import type { Manifest } from '../src/step/contract.js';
import { InputError } from '../src/errors.js';
import { loadModel, saveModel } from '../src/onnx/model-io.js';
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
      // The bert teacher with a third class: one more row in the classifier's weight and bias.
      const dir = path.join(tmp, 'teacher-3-labels');
      fs.mkdirSync(dir, { recursive: true });
      const m = loadModel(model('bert-teacher')).model;
      for (const t of m.graph!.initializer.filter((i) => i.name === 'classifier.weight' || i.name === 'classifier.bias')) {
        const v = new Float32Array(new Uint8Array(t.rawData!).slice().buffer);
        const row = v.length / 2;
        const grown = new Float32Array(v.length + row);
        grown.set(v);
        grown.set(v.subarray(0, row), v.length);
        t.rawData = new Uint8Array(grown.buffer);
        t.dims = t.dims!.length === 2 ? [3, t.dims![1]!] : [3];
      }
      saveModel(m, path.join(dir, 'model.onnx'));
      assert.throws(
        () => buildTrainingArtifacts({ teacher: path.join(dir, 'model.onnx'), student: model('bert-student'), task: 'seq-cls', optimizer: 'sgd', outDir: path.join(tmp, 'x1') }),
        (e: Error) => e instanceof InputError && /teacher and student differ in label count: .*teacher-3-labels.* has 3, .*bert-student.* has 2/.test(e.message),
      );
    });
    it('a teacher of another task: a token classifier for a sequence classifier, a sequence classifier for an LM', () => {
      assert.throws(
        () => buildTrainingArtifacts({ teacher: model('bert-tokcls'), student: model('bert-student'), task: 'seq-cls', optimizer: 'sgd', outDir: path.join(tmp, 'x1b') }),
        (e: Error) => e instanceof InputError && /bert-tokcls.*: the teacher's 'logits' have rank 3 .*the student's task seq-cls needs a teacher of the same task/.test(e.message),
      );
      assert.throws(
        () => buildTrainingArtifacts({ teacher: model('bert-teacher'), student: model('gpt2-student'), task: 'causal-lm', optimizer: 'sgd', outDir: path.join(tmp, 'x2') }),
        (e: Error) => e instanceof InputError && /bert-teacher.*: the teacher's 'logits' have rank 2 .*a sequence classifier; the student's task causal-lm/.test(e.message),
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
