/**
 * Drives the built training artifacts (see build/artifacts.ts) in onnxruntime-node. Parameters and
 * optimizer state are held as ORT tensors and passed to the K-step loop model: inputs cost no copy, and the
 * state is fetched once per call of K steps rather than once per step.
 *
 * Low-memory mode runs the split step instead (build/split-step.ts), once per micro-batch: train_grad.onnx
 * returns the gradients, then train_update.onnx runs over chunks of every parameter and its optimizer state,
 * each chunk's results fetched into the very buffers it was fed from (ORT writes graph outputs straight into
 * preallocated fetch tensors; the update model is checked at build time to allow it). The loop keeps the old
 * and the new state alive inside ORT, and onnxruntime-node returns a fresh copy of every fetched output even
 * when ORT wrote it in place; here the largest output is the gradients (a third of the state) and an update
 * call's copy is a few MB. Cost: the gradients and the state still cross into JavaScript every step
 * (docs/PERFORMANCE.md has both modes measured).
 *
 * Device mode (artifacts built for the GPU, `--ep webgpu`) runs train_step.onnx once per micro-batch through
 * runtime/step-driver.ts with the state left in GPU buffers: the Loop would run on the CPU under a GPU provider
 * and copy the state across on every step (docs/WEBGPU.md). The host copy of the state (`sync`) is made only
 * when a checkpoint or the trained model needs it.
 */
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import { METRICS, type Manifest, STEP_IO, stateName, stateSuffix, updateModelKey } from '../step/contract.js';
import { readManifest } from '../step/read-manifest.js';
import { floatArray, readSafetensors } from '../export/safetensors.js';
import { elementCount } from '../onnx/tensor.js';
import { type Batch, stackBatches } from './batch.js';
import { collectGarbage } from './gc.js';
import { TRAINING_DISABLED_OPTIMIZERS, createSession, type SessionOptions } from './session.js';
import { type Hyperparameters, StepDriver, type StepMetrics, stepOutputLocations } from './step-driver.js';

export type { Hyperparameters, StepMetrics } from './step-driver.js';

export interface TrainerSessionOptions extends SessionOptions {
  /** The split step, one gradient call per micro-batch and updates in place (see above). */
  lowMemory?: boolean;
  /** Low-memory mode: values per update call (default 2^20; tests use small ones to cross chunk boundaries). */
  updateChunk?: number;
}

type FloatArray = Float32Array | Float64Array;

/**
 * Values per update call in low-memory mode: 4 MB of float32, so a chunk's intermediates stay in cache (as in
 * the default mode's chunked updates: optim/chunked.ts) and each call's transient copy is small. Smaller
 * chunks looked faster in isolation (the update of the bench's base student: 140 ms per step at 2^18 values
 * against 154-170 at 2^20) but not in the bench's low-memory run: there 2^18 made glibc map and unmap the
 * binding's 1 MB output copies, 630 k page faults per 4-step call against 1-70 k, and the train step took
 * 985-1015 ms against 874-911.
 */
const UPDATE_CHUNK = 1 << 20;

function floatTensor(dtype: string, data: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
  return dtype === 'float64'
    ? new ort.Tensor('float64', Float64Array.from(data), dims)
    : new ort.Tensor('float32', Float32Array.from(data), dims);
}


/**
 * State tensor `st` at its initial value, shaped as the step models take it. Fresh typed arrays are zero and
 * not yet backed by memory: filling them with the zeros they hold would make the whole optimizer state
 * resident (536 MB for a 67M-parameter student) before ORT needs it.
 */
function initialState(st: Manifest['state'][number]): ort.Tensor {
  const n = elementCount(st.shape);
  const data = st.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  if (st.init !== 0) data.fill(st.init);
  return new ort.Tensor(st.dtype === 'float64' ? 'float64' : 'float32', data, st.ioShape ?? st.shape);
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
  /** Device mode: the driver that holds the state on the device. */
  private driver: StepDriver | null = null;
  /** Device mode: whether `params`/`state` lag behind the device since the last step (see `sync`). */
  private hostStale = false;
  /** Device mode: fetch_state.onnx and fetch_metrics.onnx. */
  private fetchSessions: ort.InferenceSession[] = [];

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    /** train_loop.onnx, or train_grad.onnx in low-memory mode. */
    private readonly session: ort.InferenceSession,
    readonly lowMemory: boolean,
    /** Low-memory mode: train_update.<dtype>.onnx by parameter dtype. */
    private readonly updates: ReadonlyMap<string, ort.InferenceSession>,
    private readonly updateChunk: number,
  ) {
    this.floatType = manifest.hyperparameters[0]?.dtype ?? 'float32';
    this.shapes = new Map([...manifest.parameters, ...manifest.state].map((t) => [t.name, t.shape]));
  }

  static async open(dir: string, options: TrainerSessionOptions = {}): Promise<TrainerSession> {
    const manifest = readManifest(dir);
    const lowMemory = options.lowMemory ?? false;
    if (lowMemory && (!manifest.models.train_grad || !manifest.split_step)) {
      throw new InputError(`${dir}: these artifacts have no split step for low-memory mode (train_grad.onnx); rebuild them with 'distill build', or train without --low-memory`);
    }
    const device = !lowMemory && options.ep === 'webgpu' && manifest.target === 'gpu';
    const model = lowMemory ? manifest.models.train_grad : device ? manifest.models.train_step : manifest.models.train_loop;
    const session = await createSession(path.join(dir, model), {
      ...options,
      disabledOptimizers: TRAINING_DISABLED_OPTIMIZERS,
      outputLocations: device ? stepOutputLocations(manifest) : undefined,
      // Low-memory mode trades speed for memory: without the arena, ORT returns each step's activations
      // instead of keeping the largest blocks it ever grew by (docs/PERFORMANCE.md, "Why the open targets are open").
      memArena: !lowMemory,
    });
    const updates = new Map<string, ort.InferenceSession>();
    if (lowMemory) {
      // On the CPU whatever the provider: the update is a few elementwise passes over buffers that live in
      // JavaScript, which a GPU would first have to receive and send back.
      for (const [dtype, file] of Object.entries(manifest.models.train_update)) {
        updates.set(dtype, await createSession(path.join(dir, file), { threads: options.threads, ep: 'cpu', disabledOptimizers: TRAINING_DISABLED_OPTIMIZERS }));
      }
    }
    const updateChunk = options.updateChunk ?? UPDATE_CHUNK;
    if (!(Number.isInteger(updateChunk) && updateChunk >= 1)) throw new InputError(`updateChunk must be a positive integer, got ${updateChunk}`);
    const s = new TrainerSession(dir, manifest, session, lowMemory, updates, updateChunk);
    const initial = readSafetensors(path.join(dir, manifest.initial_state));
    for (const p of manifest.parameters) {
      const t = initial.get(p.name);
      if (!t) throw new InputError(`${manifest.initial_state}: parameter '${p.name}' is missing`);
      const data = floatArray(t);
      if ((data instanceof Float64Array) !== (p.dtype === 'float64')) throw new InputError(`${manifest.initial_state}: parameter '${p.name}' is ${t.dtype}, the manifest says ${p.dtype}`);
      s.params.set(p.name, new ort.Tensor(p.dtype === 'float64' ? 'float64' : 'float32', data, p.ioShape ?? p.shape));
    }
    for (const st of manifest.state) s.state.set(st.name, initialState(st));
    if (device) {
      const fetch = (file: string) => createSession(path.join(dir, file), { ep: options.ep, threads: options.threads });
      s.fetchSessions = [await fetch(manifest.models.fetch_state!), await fetch(manifest.models.fetch_metrics!)];
      const [fetchState, fetchMetrics] = s.fetchSessions as [ort.InferenceSession, ort.InferenceSession];
      s.driver = new StepDriver(manifest, ort.Tensor, { step: session, fetchState, fetchMetrics }, s.params);
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
    let metrics: StepMetrics[];
    if (this.driver) metrics = await this.trainOnDevice(this.driver, batches, lrs, hyper, window);
    else if (this.lowMemory) metrics = await this.trainSplit(batches, lrs, hyper, window);
    else {
      metrics = await this.trainLoop(batches, lrs, hyper);
      // The previous generation of parameters and state. Collected here, not inside trainLoop, whose feeds
      // hold that generation until it returns: it would otherwise live through the next call too.
      collectGarbage();
    }
    this.stepsDone += batches.length / window;
    return metrics;
  }

  /** Device mode: one train_step.onnx call per micro-batch, the state staying on the device. */
  private async trainOnDevice(driver: StepDriver, batches: readonly Batch[], lrs: readonly number[], hyper: Hyperparameters, window: number): Promise<StepMetrics[]> {
    this.hostStale = true;
    const positions = batches.map((_, k) => ({ lr: lrs[k]!, step: this.stepsDone + Math.floor(k / window) + 1, apply: (k + 1) % window === 0 }));
    return driver.run(batches, positions, hyper);
  }

  /**
   * Brings the host copy of the parameters and state up to date (device mode: one fetch_state.onnx call; other
   * modes hold them on the host already). `parameters`, `snapshot` and `parameterArrays` read that copy.
   */
  async sync(): Promise<void> {
    if (!this.driver || !this.hostStale) return;
    const host = await this.driver.fetch();
    for (const name of this.params.keys()) this.params.set(name, host.get(name) as ort.Tensor);
    for (const name of this.state.keys()) this.state.set(name, host.get(name) as ort.Tensor);
    this.hostStale = false;
  }

  private checkSynced(): void {
    if (this.hostStale) throw new Error('TrainerSession: the state is on the device; await sync() before reading it');
  }

  /** The inputs every call takes: hyperparameters, parameters and optimizer state. */
  private commonFeeds(hyper: Hyperparameters): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    const names = new Set(this.manifest.hyperparameters.map((h) => h.name));
    if (names.has(STEP_IO.alpha)) feeds[STEP_IO.alpha] = this.scalar(hyper.alpha);
    if (names.has(STEP_IO.temperature)) feeds[STEP_IO.temperature] = this.scalar(hyper.temperature);
    if (names.has(STEP_IO.maxGradNorm)) feeds[STEP_IO.maxGradNorm] = this.scalar(hyper.maxGradNorm);
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
    feeds[STEP_IO.lr] = floatTensor(this.floatType, lrs, [lrs.length]);
    feeds[STEP_IO.step] = this.scalar(this.stepsDone);
    const out = await this.session.run(feeds);
    for (const p of this.manifest.parameters) this.params.set(p.name, out[p.output]!);
    for (const st of this.manifest.state) this.state.set(st.name, out[st.output]!);
    const col = (n: string) => Array.from(out[n]!.data as FloatArray);
    const [loss, ce, kd, gradNorm] = METRICS.map(col) as [number[], number[], number[], number[]];
    return loss.map((_, k) => ({ loss: loss[k]!, ce: ce[k]!, kd: kd[k]!, gradNorm: gradNorm[k]! }));
  }

  /**
   * Low-memory mode: per micro-batch, train_grad.onnx, then (on the micro-batch that closes an accumulation
   * window) the update of every parameter chunk by chunk, in place. With accumulation the gradient model
   * returns the window's running sum, which stands in for the accumulator until the window's update resets it.
   */
  private async trainSplit(batches: readonly Batch[], lrs: readonly number[], hyper: Hyperparameters, window: number): Promise<StepMetrics[]> {
    const wanted = new Set(this.session.inputNames);
    const feeds = Object.fromEntries(Object.entries(this.commonFeeds(hyper)).filter(([k]) => wanted.has(k)));
    const accumulators = this.manifest.state.filter((st) => wanted.has(st.name));
    const metrics: StepMetrics[] = [];
    for (const [k, batch] of batches.entries()) {
      for (const io of this.manifest.batch) {
        const t = batch[io.name];
        if (!t) throw new InputError(`train: batch ${k} has no '${io.name}'`);
        feeds[io.name] = t;
      }
      // 1-based optimizer step of this window (PyTorch's state['step'] after its increment).
      const update = (k + 1) % window === 0 ? { lr: lrs[k]!, step: this.stepsDone + Math.floor(k / window) + 1 } : null;
      metrics.push(await this.splitStep(feeds, accumulators, update));
      // Out here, not in splitStep: its locals still hold this micro-batch's gradients until it returns.
      collectGarbage();
    }
    return metrics;
  }

  /**
   * One micro-batch of the split step: its gradients, then either the update (which resets the accumulators)
   * or the running sums kept as the accumulators' next values.
   */
  private async splitStep(feeds: Record<string, ort.Tensor>, accumulators: Manifest['state'], update: { lr: number; step: number } | null): Promise<StepMetrics> {
    const split = this.manifest.split_step;
    const out = await this.session.run(feeds);
    const value = (n: string) => (out[n]!.data as FloatArray)[0]!;
    const gradients = new Map(split.gradients.map((g) => [g.param, out[g.output]!]));
    if (update) await this.update(gradients, update.lr, update.step, out[split.grad_scale]!);
    for (const st of accumulators) {
      feeds[st.name] = update ? initialState(st) : viewAs(gradients.get(st.param)!, st.shape);
      this.state.set(st.name, feeds[st.name]!);
    }
    const [loss, ce, kd, gradNorm] = METRICS.map(value) as [number, number, number, number];
    return { loss, ce, kd, gradNorm };
  }

  /** Runs train_update over every parameter in chunks, writing each chunk's results where it read them. */
  private async update(gradients: ReadonlyMap<string, ort.Tensor>, lr: number, step: number, gradScale: ort.Tensor): Promise<void> {
    const io = this.manifest.split_step.update;
    const suffixes = io.inputs.state.map(stateSuffix);
    const scalars = { [io.inputs.lr]: this.scalar(lr), [io.inputs.step]: this.scalar(step), [io.inputs.grad_scale]: gradScale };
    for (const p of this.manifest.parameters) {
      const session = this.updates.get(updateModelKey(p.dtype, p.decay !== false));
      if (!session) throw new InputError(`${this.dir}: no update model for ${p.dtype} parameter '${p.name}'; rebuild the artifacts with 'distill build'`);
      const param = this.params.get(p.name)!.data as FloatArray;
      const grad = gradients.get(p.name)!.data as FloatArray;
      const state = suffixes.map((sfx) => this.state.get(stateName(p.name, sfx))!.data as FloatArray);
      for (let at = 0; at < param.length; at += this.updateChunk) {
        const end = Math.min(param.length, at + this.updateChunk);
        const chunk = (a: FloatArray) => new ort.Tensor(p.dtype === 'float64' ? 'float64' : 'float32', a.subarray(at, end), [end - at]);
        const paramChunk = chunk(param);
        const stateChunks = state.map(chunk);
        const feeds: Record<string, ort.Tensor> = { ...scalars, [io.inputs.param]: paramChunk, [io.inputs.grad]: chunk(grad) };
        const fetches: Record<string, ort.Tensor> = { [io.outputs.param]: paramChunk };
        io.inputs.state.forEach((n, i) => (feeds[n] = stateChunks[i]!));
        io.outputs.state.forEach((n, i) => (fetches[n] = stateChunks[i]!));
        await session.run(feeds, fetches);
      }
    }
  }

  /** Current parameters in their own shapes (views of the session's buffers), by ONNX initializer name. */
  parameters(): Map<string, ort.Tensor> {
    this.checkSynced();
    return new Map([...this.params].map(([k, v]) => [k, viewAs(v, this.shapes.get(k)!)]));
  }

  /** Parameters and optimizer state together, in their own shapes (what a checkpoint holds). */
  snapshot(): Map<string, ort.Tensor> {
    this.checkSynced();
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
    this.driver?.set(new Map([...this.params, ...this.state]));
    this.hostStale = false;
  }

  /** Current parameter values, by ONNX initializer name. */
  parameterArrays(): Map<string, FloatArray> {
    this.checkSynced();
    return new Map([...this.params].map(([k, v]) => [k, v.data as FloatArray]));
  }

  async release(): Promise<void> {
    this.driver?.dispose();
    for (const f of this.fetchSessions) await f.release();
    await this.session.release();
    for (const u of this.updates.values()) await u.release();
  }
}
