/**
 * Drives the built training artifacts (see build/artifacts.ts) in onnxruntime-node. Parameters and
 * optimizer state are held as ORT tensors and passed to the K-step loop model: inputs cost no copy, and the
 * state is fetched once per call of K steps rather than once per step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import type { Manifest } from '../build/artifacts.js';
import { readSafetensors } from '../export/safetensors.js';
import { type Batch, stackBatches } from './batch.js';
import { createSession, type SessionOptions } from './session.js';

export interface Hyperparameters {
  alpha: number;
  temperature: number;
  /** Global gradient-norm clip; <= 0 disables clipping. */
  maxGradNorm: number;
}

export interface StepMetrics {
  loss: number;
  ce: number;
  kd: number;
  gradNorm: number;
}

type FloatArray = Float32Array | Float64Array;

function floatTensor(dtype: string, data: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
  return dtype === 'float64'
    ? new ort.Tensor('float64', Float64Array.from(data), dims)
    : new ort.Tensor('float32', Float32Array.from(data), dims);
}

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new InputError(`${file}: no manifest; build the training artifacts with 'distill build' first`);
  }
  try {
    return JSON.parse(text) as Manifest;
  } catch {
    throw new InputError(`${file}: not valid JSON`);
  }
}

export class TrainerSession {
  readonly params = new Map<string, ort.Tensor>();
  readonly state = new Map<string, ort.Tensor>();
  /** Optimizer steps taken so far (PyTorch's `state['step']`). */
  stepsDone = 0;
  private readonly floatType: string;

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly loop: ort.InferenceSession,
  ) {
    this.floatType = manifest.hyperparameters[0]?.dtype ?? 'float32';
  }

  static async open(dir: string, options: SessionOptions = {}): Promise<TrainerSession> {
    const manifest = readManifest(dir);
    const loop = await createSession(path.join(dir, manifest.models.train_loop), options);
    const s = new TrainerSession(dir, manifest, loop);
    const initial = readSafetensors(path.join(dir, manifest.initial_state));
    for (const p of manifest.parameters) {
      const t = initial.get(p.name);
      if (!t) throw new InputError(`${manifest.initial_state}: parameter '${p.name}' is missing`);
      const bytes = new Uint8Array(t.bytes); // aligned copy
      const data = p.dtype === 'float64' ? new Float64Array(bytes.buffer) : new Float32Array(bytes.buffer);
      s.params.set(p.name, new ort.Tensor(p.dtype === 'float64' ? 'float64' : 'float32', data, p.shape));
    }
    for (const st of manifest.state) {
      // Typed arrays filled in place: a plain JS array first would cost 8 bytes per element (1 GB for base).
      const n = st.shape.reduce((a, b) => a * b, 1);
      const data = st.dtype === 'float64' ? new Float64Array(n).fill(st.init) : new Float32Array(n).fill(st.init);
      s.state.set(st.name, new ort.Tensor(st.dtype === 'float64' ? 'float64' : 'float32', data, st.shape));
    }
    return s;
  }

  /**
   * Runs the batches as micro-batches in one ORT call: one optimizer step per `accumulation_steps` of them
   * (so their count must be a multiple of it). `lrs[k]` is the learning rate in effect for micro-batch k.
   * Returns the metrics of every micro-batch (grad_norm is that of the update a window's last one applied).
   */
  async train(batches: readonly Batch[], lrs: readonly number[], hyper: Hyperparameters): Promise<StepMetrics[]> {
    if (lrs.length !== batches.length) throw new InputError(`train: ${batches.length} batches but ${lrs.length} learning rates`);
    const window = this.manifest.accumulation_steps ?? 1;
    if (batches.length % window !== 0) {
      throw new InputError(`train: ${batches.length} micro-batches is not a multiple of the ${window} accumulation steps the model was built with`);
    }
    const feeds: Record<string, ort.Tensor> = stackBatches(batches, this.manifest.batch);
    const scalar = (v: number) => floatTensor(this.floatType, [v], []);
    feeds.lr = floatTensor(this.floatType, lrs, [lrs.length]);
    feeds.step = scalar(this.stepsDone);
    const names = new Set(this.manifest.hyperparameters.map((h) => h.name));
    if (names.has('alpha')) feeds.alpha = scalar(hyper.alpha);
    if (names.has('temperature')) feeds.temperature = scalar(hyper.temperature);
    if (names.has('max_grad_norm')) feeds.max_grad_norm = scalar(hyper.maxGradNorm);
    for (const [k, v] of this.params) feeds[k] = v;
    for (const [k, v] of this.state) feeds[k] = v;
    const out = await this.loop.run(feeds);
    for (const p of this.manifest.parameters) this.params.set(p.name, out[p.output]!);
    for (const st of this.manifest.state) this.state.set(st.name, out[st.output]!);
    this.stepsDone += batches.length / window;
    const col = (n: string) => Array.from(out[n]!.data as FloatArray);
    const [loss, ce, kd, gradNorm] = ['loss', 'ce', 'kd', 'grad_norm'].map(col) as [number[], number[], number[], number[]];
    return loss.map((_, k) => ({ loss: loss[k]!, ce: ce[k]!, kd: kd[k]!, gradNorm: gradNorm[k]! }));
  }

  /** Parameters and optimizer state together (what a checkpoint holds). */
  snapshot(): Map<string, ort.Tensor> {
    return new Map([...this.params, ...this.state]);
  }

  /** Continues from a checkpoint's tensors; every parameter and state tensor must be present and shaped right. */
  restore(tensors: ReadonlyMap<string, ort.Tensor>, stepsDone: number): void {
    for (const [map, kind] of [[this.params, 'parameter'], [this.state, 'optimizer state']] as const) {
      for (const [name, current] of map) {
        const t = tensors.get(name);
        if (!t) throw new InputError(`checkpoint has no ${kind} '${name}'; it belongs to another model or optimizer`);
        if (t.dims.length !== current.dims.length || t.dims.some((d, i) => d !== current.dims[i])) {
          throw new InputError(`checkpoint ${kind} '${name}' has shape [${t.dims}], the model needs [${current.dims}]`);
        }
        map.set(name, t);
      }
    }
    this.stepsDone = stepsDone;
  }

  /** Current parameter values, by ONNX initializer name. */
  parameterArrays(): Map<string, FloatArray> {
    return new Map([...this.params].map(([k, v]) => [k, v.data as FloatArray]));
  }

  async release(): Promise<void> {
    await this.loop.release();
  }
}
