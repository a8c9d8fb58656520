/**
 * Training on onnxruntime-node's WebGPU provider, on any machine: with SwiftShader (Debian's chromium) where
 * there is no GPU, so CI checks what users with a GPU will run. Builds for the GPU (`target: 'gpu'`) are
 * checked for where ORT puts their nodes (no compute on the CPU, nothing copied back to the host inside a
 * step) and for their numbers against PyTorch; `distill train --ep webgpu` against the CPU provider's run.
 * Speed is not measured here (SwiftShader is a CPU): scripts/bench/gpu/step-bench.mjs on a GPU, docs/WEBGPU.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import type { Task } from '../src/losses/distill.js';
import { MODELS, ROOT } from './helpers/fixtures.js';
import { placementReport } from './helpers/placement.js';
import { runWithWebGpu, webgpuEnv } from './helpers/webgpu.js';

const CHILD = path.join(ROOT, 'dist', 'test', 'helpers', 'webgpu-child.js');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const DATA = path.join(ROOT, 'test', 'data-train');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-webgpu-'));
const { env, driver } = webgpuEnv();
const skip = env ? false : `WebGPU: ${driver}`;
const model = (n: string) => path.join(MODELS, n, 'model.onnx');

describe(`WebGPU builds on onnxruntime-node's WebGPU provider (${driver})`, { skip }, () => {
  const pairs: [string, string, Task][] = [['bert-student', 'bert-teacher', 'seq-cls'], ['distilbert-student', 'distilbert-teacher', 'seq-cls'], ['gpt2-student', 'gpt2-teacher', 'causal-lm']];
  for (const [student, teacher, task] of pairs) {
    for (const accumulationSteps of [1, 2]) {
      it(`${student}${accumulationSteps > 1 ? ' with gradient accumulation' : ''}: no compute node on the CPU and no copy back to the host in any model a run opens`, () => {
        const outDir = fs.mkdtempSync(path.join(tmp, `${student}-`));
        const m = buildTrainingArtifacts({ student: model(student), teacher: model(teacher), task, optimizer: 'adamw', accumulationSteps, target: 'gpu', outDir });
        for (const file of [m.models.train_step, m.models.eval, m.models.fetch_state!, m.models.fetch_metrics!]) {
          const r = runWithWebGpu(env!, CHILD, ['placement', path.join(outDir, file)], 120_000);
          assert.equal(r.status, 0, r.stderr.slice(-2000));
          const rep = placementReport(r.stderr + r.stdout);
          assert.ok(rep.total > 0, `${file}: no placement in ORT's log`);
          assert.deepEqual(rep.cpuCompute.map((n) => `${n.op} (${n.name})`), [], `${file}: compute nodes on the CPU`);
          assert.deepEqual(rep.toHost, [], `${file}: values ORT copies from the GPU to the host inside a run`);
        }
      });
    }
  }

  it("the CPU build's train_loop runs its Loop, LogSoftmax, Sum and float64 scalars on the CPU (what the GPU build removes)", () => {
    const outDir = fs.mkdtempSync(path.join(tmp, 'cpu-build-'));
    buildTrainingArtifacts({ student: model('bert-student'), teacher: model('bert-teacher'), task: 'seq-cls', optimizer: 'adamw', outDir });
    const r = runWithWebGpu(env!, CHILD, ['placement', path.join(outDir, 'train_loop.onnx')], 120_000);
    const ops = new Set(placementReport(r.stderr + r.stdout).cpuCompute.map((n) => n.op));
    for (const op of ['Loop', 'LogSoftmax', 'Sum', 'Pow', 'Sqrt']) assert.ok(ops.has(op), `${op} is not on the CPU any more: ${[...ops].join(', ')}; update docs/WEBGPU.md's table`);
  });

  it('the six PyTorch step references (BERT, DistilBERT, GPT-2; SGD and AdamW + clipping), state on the device', () => {
    const files = fs.readdirSync(path.join(MODELS, 'steps')).filter((f) => f.endsWith('.ref.safetensors')).sort();
    assert.equal(files.length, 6);
    const r = runWithWebGpu(env!, CHILD, ['parity', MODELS, tmp, ...files], 540_000);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const results = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; terms: string[]; updates: string[] });
    assert.deepEqual(results.map((x) => x.file), files);
    for (const x of results) {
      assert.deepEqual(x.terms, [], `${x.file}: loss terms differ from PyTorch`);
      assert.deepEqual(x.updates, [], `${x.file}: parameter updates differ from PyTorch`);
    }
  });

  it('a run resumed from a host snapshot of the device state reaches the weights of the uninterrupted run', () => {
    const r = runWithWebGpu(env!, CHILD, ['resume', MODELS, tmp, 'bert-student.adamw.ref.safetensors'], 300_000);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const { straight, resumed, steps } = JSON.parse(r.stdout.trim()) as { straight: Record<string, number[]>; resumed: Record<string, number[]>; steps: number[] };
    assert.deepEqual(steps, [5, 5]);
    for (const [name, a] of Object.entries(straight)) assert.deepEqual(resumed[name], a, name);
  });

  it('distill train --ep webgpu: the CPU provider\'s losses, checkpoints and trained model', () => {
    const args = (out: string, ep: string) => [CLI, 'train', '--teacher', model('bert-teacher'), '--student', model('bert-student'),
      '--train-file', path.join(DATA, 'train.jsonl'), '--eval-file', path.join(DATA, 'eval.jsonl'), '--batch-size', '8', '--max-steps', '6',
      '--learning-rate', '1e-3', '--save-steps', '3', '--eval-steps', '3', '--logging-steps', '1', '--threads', '2', '--ep', ep, '--output-dir', out];
    const runs = ['cpu', 'webgpu'].map((ep) => {
      const out = path.join(tmp, `train-${ep}`);
      const r = spawnSync(process.execPath, args(out, ep), { encoding: 'utf8', env: env!, timeout: 300_000 });
      assert.equal(r.status, 0, `${ep}: ${r.stderr.slice(-2000)}`);
      for (const f of ['model.onnx', 'model.safetensors', 'checkpoint-3', 'checkpoint-6', 'trainer_state.json']) assert.ok(fs.existsSync(path.join(out, f)), `${ep}: ${f}`);
      return JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8')) as { log_history: { step: number; loss?: number; eval_accuracy?: number }[] };
    });
    const losses = runs.map((s) => s.log_history.filter((e) => e.loss !== undefined).map((e) => e.loss!));
    assert.equal(losses[1]!.length, 6);
    losses[0]!.forEach((l, i) => assert.ok(Math.abs(losses[1]![i]! - l) <= 1e-4 * Math.abs(l), `step ${i + 1}: webgpu loss ${losses[1]![i]} against the CPU's ${l}`));
    const evals = runs.map((s) => s.log_history.filter((e) => e.eval_accuracy !== undefined).map((e) => e.eval_accuracy));
    assert.deepEqual(evals[1], evals[0]);
  });
});
