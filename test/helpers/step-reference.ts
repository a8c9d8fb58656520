/**
 * The PyTorch training-step references (models/steps/*.ref.safetensors, written by
 * scripts/fixtures/reference_steps.py): loading one into built artifacts and batches, and comparing a run with it
 * at the suite's bars. test/runtime-trainer-session.test.ts asserts with it; test/webgpu.test.ts and scripts/bench/gpu/step-bench.mjs
 * run the same comparison on the WebGPU provider (the bench from the compiled dist/test/helpers).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { buildTrainingArtifacts } from '../../src/step/artifacts.js';
import { readSafetensorsFile, safeToFloat64, type SafeTensor } from '../../src/export/safetensors.js';
import type { Task } from '../../src/losses/distill.js';
import type { Batch } from '../../src/runtime/batch.js';
import type { Hyperparameters, StepMetrics } from '../../src/runtime/trainer-session.js';
import type { BuildTarget } from '../../src/step/contract.js';

export interface RefMeta {
  task: Task;
  alpha: number;
  T: number;
  steps: number;
  pair: { student: string; teacher: string };
  optimizer: { name: 'sgd' | 'adamw'; lr: number; momentum: number | null; dampening: number | null; nesterov: boolean | null; weight_decay: number; betas: [number, number] | null; eps: number | null; max_norm: number | null };
}

export interface StepReference {
  ref: Map<string, SafeTensor>;
  meta: RefMeta;
  /** Artifacts built with the reference's optimizer settings. */
  outDir: string;
  batches: Batch[];
  hyper: Hyperparameters;
  lrs: number[];
}

export const int64 = (t: SafeTensor) => new ort.Tensor('int64', new BigInt64Array(new Uint8Array(t.bytes).buffer), t.shape);
export const f32 = (t: SafeTensor) => new ort.Tensor('float32', new Float32Array(new Uint8Array(t.bytes).buffer), t.shape);

function settingsOf(o: RefMeta['optimizer']): Record<string, number | boolean> {
  return o.name === 'sgd'
    ? { momentum: o.momentum ?? 0, dampening: o.dampening ?? 0, nesterov: o.nesterov ?? false, weightDecay: o.weight_decay }
    : { beta1: o.betas![0], beta2: o.betas![1], eps: o.eps!, weightDecay: o.weight_decay };
}

/**
 * Reads `models/steps/<file>`, builds its artifacts in a new folder under `tmp` (for `target`'s execution
 * providers, default any), and makes its batches.
 */
export async function loadStepReference(models: string, file: string, tmp: string, target: BuildTarget = 'cpu'): Promise<StepReference> {
  const { tensors: ref, metadata } = readSafetensorsFile(path.join(models, 'steps', file));
  const meta = JSON.parse(metadata.onnx_distill!) as RefMeta;
  const student = path.join(models, meta.pair.student, 'model.onnx');
  const teacher = path.join(models, meta.pair.teacher, 'model.onnx');
  const outDir = fs.mkdtempSync(path.join(tmp, `${file}-`));
  // The references run torch.optim.AdamW / SGD over model.parameters(): weight decay on every parameter.
  buildTrainingArtifacts({ student, teacher, task: meta.task, optimizer: meta.optimizer.name, optimizerSettings: settingsOf(meta.optimizer), weightDecayGroups: 'all', target, outDir });
  const teacherSession = await ort.InferenceSession.create(teacher);
  const batches: Batch[] = [];
  for (let k = 0; k < meta.steps; k++) {
    const input_ids = int64(ref.get(`input_ids/${k}`)!);
    const attention_mask = int64(ref.get(`attention_mask/${k}`)!);
    // Classifier references carry PyTorch's teacher logits; LM references are recomputed by the teacher ONNX.
    const stored = ref.get(`teacher_logits/${k}`);
    const teacher_logits = stored ? f32(stored) : ((await teacherSession.run({ input_ids, attention_mask })).logits as ort.Tensor);
    batches.push({ input_ids, attention_mask, labels: int64(ref.get(`labels/${k}`)!), teacher_logits });
  }
  await teacherSession.release();
  const hyper = { alpha: meta.alpha, temperature: meta.T, maxGradNorm: meta.optimizer.max_norm ?? 0 };
  return { ref, meta, outDir, batches, hyper, lrs: batches.map(() => meta.optimizer.lr) };
}

/** What a run produced: metrics per step, and every parameter before and after. */
export interface StepRun {
  metrics: StepMetrics[];
  initial: ReadonlyMap<string, ArrayLike<number>>;
  final: ReadonlyMap<string, ArrayLike<number>>;
}

/** What a run is compared with: PyTorch's reference, or another provider's run. */
export interface Expected {
  metrics: StepMetrics[];
  final: ReadonlyMap<string, ArrayLike<number>>;
}

/** PyTorch's metrics and final parameters from a reference file. */
export function referenceExpected(r: StepReference): Expected {
  const value = (key: string) => safeToFloat64(r.ref.get(key)!)[0]!;
  const metrics = Array.from({ length: r.meta.steps }, (_, k) => ({
    loss: value(`loss/${k}`), ce: value(`ce/${k}`), kd: value(`kd/${k}`), gradNorm: value(`grad_norm/${k}`),
  }));
  const final = new Map<string, Float64Array>();
  for (const [name, t] of r.ref) if (name.startsWith('final/')) final.set(name.slice('final/'.length), safeToFloat64(t));
  return { metrics, final };
}

/** Parameters whose exact gradient is zero: attention key biases (BERT `key.bias`, DistilBERT `k_lin.bias`). */
const ZERO_GRADIENT = /attention\.(self\.key|k_lin)\.bias$/;
const TERMS = ['loss', 'ce', 'kd', 'gradNorm'] as const;

export interface Comparison {
  /** Loss terms outside the bar, one line each. */
  terms: string[];
  /** Parameter updates outside the bar, one line each. */
  updates: string[];
  /** Worst relative error per loss term. */
  worstTerm: Record<(typeof TERMS)[number], number>;
  /** Worst relative L2 error of an update (and whose), over the parameters with a real gradient. */
  worstUpdate: { rel: number; name: string };
}

/**
 * Compares a run with the expected values at the suite's bars. Loss terms: 1e-5 relative at every step.
 * Updates (final - initial) per parameter: 1e-3 in relative L2 norm.
 */
export function compareRun(run: StepRun, want: Expected, meta: RefMeta): Comparison {
  const terms: string[] = [];
  const worstTerm = { loss: 0, ce: 0, kd: 0, gradNorm: 0 };
  run.metrics.forEach((m, k) => {
    for (const key of TERMS) {
      const w = want.metrics[k]![key];
      const got = m[key];
      // The KD term of these random-init classifiers is tiny (2e-5 to 1e-3: both softmaxes are near uniform),
      // a difference of two ~0.69 log-probabilities summed in float32, so PyTorch's float32 value itself carries
      // ~1e-7 absolute rounding error: KD gets an absolute floor of 1e-6 (the KD formula is checked to 1e-9 in
      // float64 by test/losses-distill.test.ts).
      const floor = key === 'kd' ? 1e-6 : 0;
      const diff = Math.abs(got - w);
      worstTerm[key] = Math.max(worstTerm[key], Number.isNaN(diff) ? Infinity : diff / Math.max(Math.abs(w), 1e-30));
      if (!(diff <= floor + 1e-5 * Math.abs(w))) terms.push(`step ${k} ${key}: ${got} vs ${w}`);
    }
  });
  const updates: string[] = [];
  const worstUpdate = { rel: 0, name: '' };
  for (const [name, now] of run.final) {
    const target = want.final.get(name);
    if (!target) {
      updates.push(`${name}: no expected final value`);
      continue;
    }
    const start = run.initial.get(name)!;
    let num = 0;
    let den = 0;
    let maxDiff = 0;
    for (let i = 0; i < target.length; i++) {
      const d = now[i]! - start[i]! - (target[i]! - start[i]!);
      num += d * d;
      den += (target[i]! - start[i]!) ** 2;
      maxDiff = Math.max(maxDiff, Number.isNaN(d) ? Infinity : Math.abs(d));
    }
    const rel = Number.isNaN(num) ? Infinity : Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
    if (ZERO_GRADIENT.test(name) && meta.optimizer.name === 'adamw') {
      // Attention key biases have an exactly-zero gradient (softmax ignores a per-query constant); both sides
      // see only float32 rounding noise (~1e-12), which AdamW divides by sqrt(v) + eps and so turns into updates
      // of ~1e-4 lr. Bound the difference by 1% of the largest step AdamW can take instead.
      const bar = 1e-2 * meta.steps * meta.optimizer.lr;
      if (maxDiff > bar) updates.push(`${name}: update differs by ${maxDiff.toExponential(2)} (bar ${bar.toExponential(2)})`);
      continue;
    }
    if (rel > worstUpdate.rel) Object.assign(worstUpdate, { rel, name });
    if (rel > 1e-3) updates.push(`${name}: relative L2 error of the update ${rel.toExponential(2)}`);
  }
  return { terms, updates, worstTerm, worstUpdate };
}
