/**
 * Exports as users make them (models/user/, scripts/make_user_exports.py): six HF families, each as
 * TorchScript default, dynamo default and lossless export, with config.json and model.safetensors beside
 * them. Three steps of `train()` must move the student's logits as PyTorch's loop did on the same padded
 * batches (SGD with momentum; AdamW with weight decay in HF's groups and clipping), and model.safetensors
 * must hold PyTorch's trained parameters under their HF names. The TorchScript exports also train right from
 * the heuristics alone (the ONNX file copied to a folder without HF files).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { type SafeTensor, floatArray, readSafetensors, readSafetensorsFile } from '../src/export/safetensors.js';
import { train } from '../src/train/trainer.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

const USER = path.join(MODELS, 'user');
const FAMILIES = ['bert', 'distilbert', 'roberta', 'albert', 'electra', 'gpt2'];
const EXPORTS = ['torchscript', 'dynamo', 'lossless'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-params-'));

interface OptimizerRef {
  name: 'sgd' | 'adamw';
  lr: number;
  momentum?: number;
  betas?: [number, number];
  eps?: number;
  weight_decay: number;
  max_norm: number | null;
}
interface Meta {
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
const keyBias = /(\.key|\.k_lin)\.bias$/;

async function trainAndCompare(family: string, onnxFile: string, opt: OptimizerRef, ref: Map<string, SafeTensor>, meta: Meta, out: string, checkWeights: boolean) {
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
    assert.ok(err < 1e-3, `${family} ${path.basename(onnxFile)} ${opt.name}: '${name}' off by ${err.toExponential(2)} of PyTorch's movement`);
  }
  return rel;
}

for (const family of FAMILIES) {
  describe(`user exports: ${family}`, () => {
    const file = path.join(USER, family, 'reference.safetensors');
    const { tensors: ref, metadata } = readSafetensorsFile(file);
    const meta = JSON.parse(metadata.onnx_distill!) as Meta;
    for (const exporter of EXPORTS) {
      for (const opt of Object.values(meta.optimizers)) {
        it(`${exporter} export, ${opt.name}: 3 steps match PyTorch (HF files beside it)`, async () => {
          const out = path.join(tmp, `${family}-${exporter}-${opt.name}`);
          await trainAndCompare(family, path.join(USER, family, `${exporter}.onnx`), opt, ref, meta, out, true);
        });
      }
    }
    it('torchscript export from heuristics alone (no HF files): 3 AdamW steps match PyTorch', async () => {
      const bare = path.join(tmp, `${family}-bare`);
      fs.mkdirSync(bare, { recursive: true });
      fs.copyFileSync(path.join(USER, family, 'torchscript.onnx'), path.join(bare, 'model.onnx'));
      const out = path.join(tmp, `${family}-bare-out`);
      await trainAndCompare(family, path.join(bare, 'model.onnx'), meta.optimizers.adamw!, ref, meta, out, false);
    });
  });
}
