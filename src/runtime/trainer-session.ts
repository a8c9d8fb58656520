/**
 * Drives the built training artifacts (see build/artifacts.ts) in onnxruntime-node. Parameters and
 * optimizer state are held as ORT tensors and passed to the K-step loop model: inputs cost no copy, and the
 * state is fetched once per call of K steps rather than once per step.
 *
 * Low-memory mode runs train_step.onnx once per micro-batch instead, with every updated parameter and state
 * tensor fetched into the very buffer it was fed from (ORT writes graph outputs straight into preallocated
 * fetch tensors). The loop keeps the old and the new state alive inside ORT, plus a copy for its outputs;
 * this keeps one. Writing in place is safe when every node that reads a tensor runs before the node that
 * writes its replacement: each update depends, through the global gradient norm that clipping always
 * computes, on every gradient and so on every read of every parameter, and an optimizer state tensor is read
 * by its own update only. The build checks this (build/in-place.ts) and records it in the manifest; artifacts
 * without that record are refused. Cost: onnxruntime-node still returns a fresh copy
 * of every fetched output, which is dropped at once, so each step pays the state copy the loop pays once per
 * call (docs/PERFORMANCE.md has both modes measured).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import type { Manifest } from '../build/artifacts.js';
import { floatArray, readSafetensors } from '../export/safetensors.js';
import { elementCount } from '../onnx/tensor.js';
import { type Batch, stackBatches } from './batch.js';
import { collectGarbage } from './gc.js';
import { TRAINING_DISABLED_OPTIMIZERS, createSession, type SessionOptions } from './session.js';

export interface Hyperparameters {
  alpha: number;
  temperature: number;
  /** Global gradient-norm clip; <= 0 disables clipping. */
  maxGradNorm: number;
}

export interface TrainerSessionOptions extends SessionOptions {
  /** Update parameters and optimizer state in place, one ORT call per micro-batch (see above). */
  lowMemory?: boolean;
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

/** The same data under other dims (no copy): between a tensor's own shape and its step-model shape. */
function viewAs(t: ort.Tensor, dims: readonly number[]): ort.Tensor {
  if (t.dims.length === dims.length && t.dims.every((d, i) => d === dims[i])) return t;
  return new ort.Tensor(t.type as 'float32' | 'float64', t.data as FloatArray, dims);
}

export class TrainerSession {
  /** Parameters and optimizer state as the step models take them: shaped `ioShape ?? shape` (manifest). */
  private readonly params = new Map<string, ort.Tensor>();
  private readonly state = new Map<string, ort.Tensor>();
  /** Optimizer steps taken so far (PyTorch's `state['step']`). */
  stepsDone = 0;
  private readonly floatType: string;
  /** Shape of each parameter and state tensor in the model (the manifest's `shape`), by name. */
  private readonly shapes: Map<string, number[]>;

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    /** train_loop.onnx, or train_step.onnx in low-memory mode. */
    private readonly session: ort.InferenceSession,
    readonly lowMemory: boolean,
  ) {
    this.floatType = manifest.hyperparameters[0]?.dtype ?? 'float32';
    this.shapes = new Map([...manifest.parameters, ...manifest.state].map((t) => [t.name, t.shape]));
  }

  static async open(dir: string, options: TrainerSessionOptions = {}): Promise<TrainerSession> {
    const manifest = readManifest(dir);
    const lowMemory = options.lowMemory ?? false;
    if (lowMemory && manifest.in_place?.safe !== true) {
      const why = manifest.in_place ? `its update reads parameters late (${manifest.in_place.violations[0] ?? '?'})` : 'it was built without the in-place check';
      throw new InputError(`${dir}: low-memory mode cannot update these artifacts in place: ${why}; rebuild them with 'distill build', or train without --low-memory`);
    }
    const model = lowMemory ? manifest.models.train_step : manifest.models.train_loop;
    const session = await createSession(path.join(dir, model), {
      ...options,
      disabledOptimizers: TRAINING_DISABLED_OPTIMIZERS,
      // Low-memory mode trades speed for memory: without the arena, ORT returns each step's activations
      // instead of keeping the largest blocks it ever grew by (docs/PERFORMANCE.md, "Peak RSS").
      memArena: !lowMemory,
    });
    const s = new TrainerSession(dir, manifest, session, lowMemory);
    const initial = readSafetensors(path.join(dir, manifest.initial_state));
    for (const p of manifest.parameters) {
      const t = initial.get(p.name);
      if (!t) throw new InputError(`${manifest.initial_state}: parameter '${p.name}' is missing`);
      const data = floatArray(t);
      if ((data instanceof Float64Array) !== (p.dtype === 'float64')) throw new InputError(`${manifest.initial_state}: parameter '${p.name}' is ${t.dtype}, the manifest says ${p.dtype}`);
      s.params.set(p.name, new ort.Tensor(p.dtype === 'float64' ? 'float64' : 'float32', data, p.ioShape ?? p.shape));
    }
    for (const st of manifest.state) {
      // Fresh typed arrays are zero and not yet backed by memory: filling them with the zeros they hold would
      // make the whole optimizer state resident (536 MB for a 67M-parameter student) before ORT needs it.
      const n = elementCount(st.shape);
      const data = st.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
      if (st.init !== 0) data.fill(st.init);
      s.state.set(st.name, new ort.Tensor(st.dtype === 'float64' ? 'float64' : 'float32', data, st.ioShape ?? st.shape));
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
    const metrics = this.lowMemory ? await this.trainInPlace(batches, lrs, hyper, window) : await this.trainLoop(batches, lrs, hyper);
    this.stepsDone += batches.length / window;
    return metrics;
  }

  /** The inputs every call takes: hyperparameters, parameters and optimizer state. */
  private commonFeeds(hyper: Hyperparameters): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    const names = new Set(this.manifest.hyperparameters.map((h) => h.name));
    if (names.has('alpha')) feeds.alpha = this.scalar(hyper.alpha);
    if (names.has('temperature')) feeds.temperature = this.scalar(hyper.temperature);
    if (names.has('max_grad_norm')) feeds.max_grad_norm = this.scalar(hyper.maxGradNorm);
    for (const [k, v] of this.params) feeds[k] = v;
    for (const [k, v] of this.state) feeds[k] = v;
    return feeds;
  }

  private scalar(v: number): ort.Tensor {
    return floatTensor(this.floatType, [v], []);
  }

  /** One call of train_loop.onnx over the stacked batches; the new parameters and state replace the old. */
  private async trainLoop(batches: readonly Batch[], lrs: readonly number[], hyper: Hyperparameters): Promise<StepMetrics[]> {
    const feeds = { ...this.commonFeeds(hyper), ...stackBatches(batches, this.manifest.batch) };
    feeds.lr = floatTensor(this.floatType, lrs, [lrs.length]);
    feeds.step = this.scalar(this.stepsDone);
    const out = await this.session.run(feeds);
    for (const p of this.manifest.parameters) this.params.set(p.name, out[p.output]!);
    for (const st of this.manifest.state) this.state.set(st.name, out[st.output]!);
    collectGarbage(); // the previous generation of parameters and state
    const col = (n: string) => Array.from(out[n]!.data as FloatArray);
    const [loss, ce, kd, gradNorm] = ['loss', 'ce', 'kd', 'grad_norm'].map(col) as [number[], number[], number[], number[]];
    return loss.map((_, k) => ({ loss: loss[k]!, ce: ce[k]!, kd: kd[k]!, gradNorm: gradNorm[k]! }));
  }

  /** train_step.onnx once per micro-batch, each new parameter and state written into its input's buffer. */
  private async trainInPlace(batches: readonly Batch[], lrs: readonly number[], hyper: Hyperparameters, window: number): Promise<StepMetrics[]> {
    const feeds = this.commonFeeds(hyper);
    const fetches: Record<string, ort.Tensor | null> = { loss: null, ce: null, kd: null, grad_norm: null };
    for (const p of this.manifest.parameters) fetches[p.output] = this.params.get(p.name)!;
    for (const st of this.manifest.state) fetches[st.output] = this.state.get(st.name)!;
    const metrics: StepMetrics[] = [];
    for (const [k, batch] of batches.entries()) {
      for (const io of this.manifest.batch) {
        const t = batch[io.name];
        if (!t) throw new InputError(`train: batch ${k} has no '${io.name}'`);
        feeds[io.name] = t;
      }
      feeds.lr = this.scalar(lrs[k]!);
      // 1-based optimizer step this micro-batch belongs to; the last micro-batch of a window applies it.
      feeds.step = this.scalar(this.stepsDone + Math.floor(k / window) + 1);
      if (window > 1) feeds.apply_update = new ort.Tensor('bool', Uint8Array.of((k + 1) % window === 0 ? 1 : 0), []);
      const out = await this.session.run(feeds, fetches);
      const value = (n: string) => (out[n]!.data as FloatArray)[0]!;
      metrics.push({ loss: value('loss'), ce: value('ce'), kd: value('kd'), gradNorm: value('grad_norm') });
      collectGarbage(); // the binding's copies of the outputs, already written into the fetched tensors
    }
    return metrics;
  }

  /** Current parameters in their own shapes (views of the session's buffers), by ONNX initializer name. */
  parameters(): Map<string, ort.Tensor> {
    return new Map([...this.params].map(([k, v]) => [k, viewAs(v, this.shapes.get(k)!)]));
  }

  /** Parameters and optimizer state together, in their own shapes (what a checkpoint holds). */
  snapshot(): Map<string, ort.Tensor> {
    return new Map([...this.params, ...this.state].map(([k, v]) => [k, viewAs(v, this.shapes.get(k)!)]));
  }

  /** Continues from a checkpoint's tensors; every parameter and state tensor must be present and shaped right. */
  restore(tensors: ReadonlyMap<string, ort.Tensor>, stepsDone: number): void {
    for (const [map, kind] of [[this.params, 'parameter'], [this.state, 'optimizer state']] as const) {
      for (const [name, current] of map) {
        const t = tensors.get(name);
        if (!t) throw new InputError(`checkpoint has no ${kind} '${name}'; it belongs to another model or optimizer`);
        const want = this.shapes.get(name)!;
        if (t.dims.length !== want.length || t.dims.some((d, i) => d !== want[i])) {
          throw new InputError(`checkpoint ${kind} '${name}' has shape [${t.dims}], the model needs [${want}]`);
        }
        map.set(name, viewAs(t, current.dims));
      }
    }
    this.stepsDone = stepsDone;
  }

  /** Current parameter values, by ONNX initializer name. */
  parameterArrays(): Map<string, FloatArray> {
    return new Map([...this.params].map(([k, v]) => [k, v.data as FloatArray]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
