/**
 * Training a user-style fixture (models/user/<family>/, scripts/fixtures/make_user_exports.py and
 * scripts/fixtures/make_family_fixtures.py) with `train()` and comparing the result with its PyTorch reference:
 * the logits on the eval batch, and (optionally) model.safetensors, each within 1e-3 of PyTorch's movement.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { type SafeTensor, floatArray, readSafetensors } from '../../src/export/safetensors.js';
import { train } from '../../src/train/trainer.js';
import { MODELS, ROOT } from './fixtures.js';

export const USER = path.join(MODELS, 'user');

export interface OptimizerRef {
  name: 'sgd' | 'adamw';
  lr: number;
  momentum?: number;
  betas?: [number, number];
  eps?: number;
  weight_decay: number;
  max_norm: number | null;
}
export interface Meta {
  task: 'seq-cls' | 'causal-lm';
  teacher: string;
  batch_size: number;
  steps: number;
  alpha: number;
  T: number;
  optimizers: Record<string, OptimizerRef>;
}

const int64 = (t: SafeTensor) => new ort.Tensor('int64', new BigInt64Array(new Uint8Array(t.bytes).buffer), t.shape);

/**
 * max |a - b| / max |ref - initial|: the error relative to how far PyTorch moved the values (at least
 * `floor`, below which a movement is float noise).
 */
function relativeToMovement(ours: Float32Array, ref: Float32Array, initial: Float32Array, floor = 0): number {
  let err = 0;
  let moved = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ours[i]! - ref[i]!));
    moved = Math.max(moved, Math.abs(ref[i]! - initial[i]!));
  }
  return err / Math.max(moved, floor);
}

/**
 * Attention key biases have a zero gradient in exact arithmetic (softmax does not change when every score of
 * a query shifts by the same amount), so what PyTorch computes for them is float noise, and Adam scales
 * noise up to full-size steps. Neither side's value means anything; the logits do not depend on it.
 */
const keyBias = /(\.key|\.k_lin|\.attn\.k)\.bias$/;

export async function trainAndCompare(family: string, onnxFile: string, opt: OptimizerRef, ref: Map<string, SafeTensor>, meta: Meta, out: string, checkWeights: boolean, weightTol = 1e-3) {
  await train({
    student: onnxFile,
    teacher: path.join(ROOT, meta.teacher),
    trainFile: path.join(USER, family, 'train.jsonl'),
    outputDir: out,
    task: meta.task,
    alpha: meta.alpha,
    temperature: meta.T,
    optimizer: opt.name,
    learningRate: opt.lr,
    momentum: opt.momentum ?? 0,
    adamBeta1: opt.betas?.[0] ?? 0.9,
    adamBeta2: opt.betas?.[1] ?? 0.999,
    adamEpsilon: opt.eps ?? 1e-8,
    weightDecay: opt.weight_decay,
    maxGradNorm: opt.max_norm ?? 0,
    lrScheduler: 'constant',
    batchSize: meta.batch_size,
    maxSteps: meta.steps,
    shuffle: false,
    threads: 1,
    loggingSteps: 1,
  });
  const session = await ort.InferenceSession.create(path.join(out, 'model.onnx'));
  const logits = (await session.run({ input_ids: int64(ref.get('eval/input_ids')!), attention_mask: int64(ref.get('eval/attention_mask')!) })).logits as ort.Tensor;
  await session.release();
  const rel = relativeToMovement(logits.data as Float32Array, floatArray(ref.get(`${opt.name}/logits`)!) as Float32Array, floatArray(ref.get('initial/logits')!) as Float32Array);
  assert.ok(rel < 1e-3, `${family} ${path.basename(onnxFile)} ${opt.name}: logits off by ${rel.toExponential(2)} of PyTorch's movement`);
  if (!checkWeights) return rel;
  // model.safetensors: PyTorch's trained tensors under their HF names (tied names once, as save_pretrained),
  // off by at most 1e-3 of how far PyTorch moved the tensor (Adam divides by sqrt(v), so elements with tiny
  // gradients carry float32 noise that is large next to their value but not next to the step).
  const saved = readSafetensors(path.join(out, 'model.safetensors'));
  const initial = readSafetensors(path.join(USER, family, 'model.safetensors'));
  const prefix = `${opt.name}/param/`;
  for (const [key, t] of ref) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (opt.name === 'adamw' && keyBias.test(name)) continue;
    const ours = saved.get(name);
    assert.ok(ours, `${family} ${path.basename(onnxFile)}: model.safetensors lacks '${name}' (has ${[...saved.keys()].slice(0, 4).join(', ')}, ...)`);
    assert.deepEqual(ours.shape, t.shape, name);
    const err = relativeToMovement(floatArray(ours) as Float32Array, floatArray(t) as Float32Array, floatArray(initial.get(name)!) as Float32Array, 1e-3 * opt.lr);
    assert.ok(err < weightTol, `${family} ${path.basename(onnxFile)} ${opt.name}: '${name}' off by ${err.toExponential(2)} of PyTorch's movement`);
  }
  return rel;
}

