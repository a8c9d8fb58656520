/**
 * One training step per call of train_step.onnx, with the parameters and optimizer state held as ORT tensors
 * between calls: each call's `new/*` outputs are the next call's inputs, so the state never passes through
 * JavaScript arrays. With the outputs located on the device (ORT's 'gpu-buffer' output location, see
 * `stepOutputLocations`) a GPU provider keeps the state in its own buffers from step to step, and nothing
 * waits for the GPU between the steps of one `run`: their metrics stay on the device too and come to the host
 * together at its end (fetch_metrics.onnx), so the host prepares step k + 1 while the GPU computes step k.
 * `fetch` copies the state out through fetch_state.onnx when a checkpoint or the trained model needs it.
 *
 * This is the GPU providers' driver (train_loop.onnx's Loop runs on the CPU under them: docs/WEBGPU.md) and
 * the browser's (web/). It uses no Node.js API: the caller opens the sessions and hands over ORT's Tensor
 * class, so onnxruntime-node and onnxruntime-web both drive it.
 */
import type { InferenceSession, OnnxValueDataLocation, Tensor, TensorConstructor } from 'onnxruntime-common';
import { InputError } from '../errors.js';
import { METRICS, type Manifest, STEP_IO, fetchedName } from '../step/contract.js';

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

/** The schedule's values for one micro-batch. */
export interface StepPosition {
  lr: number;
  /** 1-based index of the optimizer step this micro-batch belongs to (PyTorch's state['step'] after its increment). */
  step: number;
  /** With gradient accumulation: whether this micro-batch closes its window (the update is applied). */
  apply?: boolean;
}

type FloatArray = Float32Array | Float64Array;

/**
 * train_step.onnx's output locations for a driver that keeps the state on the device: every output in
 * 'gpu-buffer'. Pass it as the session's `preferredOutputLocation`.
 */
export function stepOutputLocations(manifest: Manifest): Record<string, OnnxValueDataLocation> {
  const locations: Record<string, OnnxValueDataLocation> = {};
  for (const t of [...manifest.parameters, ...manifest.state]) locations[t.output] = 'gpu-buffer';
  for (const m of METRICS) locations[m] = 'gpu-buffer';
  return locations;
}

/** The sessions a StepDriver runs: train_step.onnx, and for device outputs the two fetch models. */
export interface StepSessions {
  step: InferenceSession;
  /** fetch_state.onnx: needed when the session leaves the state on the device. */
  fetchState: InferenceSession | null;
  /** fetch_metrics.onnx: needed when the session leaves the metrics on the device. */
  fetchMetrics: InferenceSession | null;
}

export class StepDriver {
  /** Parameters and optimizer state by input name, on the host or the device: what the next call is fed. */
  private readonly current = new Map<string, Tensor>();
  private readonly floatType: 'float32' | 'float64';

  private readonly session: InferenceSession;

  constructor(
    readonly manifest: Manifest,
    private readonly Tensor: TensorConstructor,
    private readonly sessions: StepSessions,
    /** Parameter values (shaped as the manifest's `ioShape ?? shape`), by name; the state starts at its `init`. */
    parameters: ReadonlyMap<string, Tensor>,
  ) {
    this.session = sessions.step;
    this.floatType = manifest.hyperparameters[0]?.dtype === 'float64' ? 'float64' : 'float32';
    for (const p of manifest.parameters) {
      const t = parameters.get(p.name);
      if (!t) throw new InputError(`${manifest.initial_state}: parameter '${p.name}' is missing`);
      this.current.set(p.name, t);
    }
    for (const st of manifest.state) {
      const n = (st.ioShape ?? st.shape).reduce((a, d) => a * d, 1);
      const data = st.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
      if (st.init !== 0) data.fill(st.init);
      this.current.set(st.name, this.floatTensor(st.dtype, data, st.ioShape ?? st.shape));
    }
  }

  private floatTensor(dtype: string, data: FloatArray | readonly number[], dims: readonly number[]): Tensor {
    return dtype === 'float64'
      ? new this.Tensor('float64', data instanceof Float64Array ? data : Float64Array.from(data), dims)
      : new this.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
  }

  private scalar(v: number): Tensor {
    return this.floatTensor(this.floatType, [v], []);
  }

  /**
   * One call of train_step.onnx per batch (the manifest's batch inputs), each at its position in the schedule;
   * the new state replaces the old after each. Returns every step's metrics, read once all steps ran.
   */
  async run(batches: readonly Readonly<Record<string, Tensor>>[], positions: readonly StepPosition[], hyper: Hyperparameters): Promise<StepMetrics[]> {
    if (positions.length !== batches.length) throw new InputError(`train: ${batches.length} batches but ${positions.length} schedule positions`);
    const pending: Record<string, Tensor>[] = [];
    for (const [k, batch] of batches.entries()) pending.push(await this.step(batch, positions[k]!, hyper));
    const metrics: StepMetrics[] = [];
    for (const out of pending) metrics.push(await this.readMetrics(out));
    return metrics;
  }

  /** One call of train_step.onnx; returns its metric outputs, wherever they are. */
  private async step(batch: Readonly<Record<string, Tensor>>, at: StepPosition, hyper: Hyperparameters): Promise<Record<string, Tensor>> {
    const feeds: Record<string, Tensor> = {};
    for (const io of this.manifest.batch) {
      const t = batch[io.name];
      if (!t) throw new InputError(`train: the batch has no '${io.name}'`);
      feeds[io.name] = t;
    }
    const wanted = new Set(this.session.inputNames);
    const hyperFeeds: Record<string, number> = {
      [STEP_IO.alpha]: hyper.alpha, [STEP_IO.temperature]: hyper.temperature, [STEP_IO.maxGradNorm]: hyper.maxGradNorm,
      [STEP_IO.lr]: at.lr, [STEP_IO.step]: at.step,
    };
    for (const [name, v] of Object.entries(hyperFeeds)) if (wanted.has(name)) feeds[name] = this.scalar(v);
    if (wanted.has(STEP_IO.applyUpdate)) feeds[STEP_IO.applyUpdate] = new this.Tensor('bool', new Uint8Array([at.apply ? 1 : 0]), []);
    for (const [name, t] of this.current) feeds[name] = t;
    const out = await this.session.run(feeds);
    const old = [...this.current.values()];
    for (const t of [...this.manifest.parameters, ...this.manifest.state]) this.current.set(t.name, out[t.output]!);
    // The previous generation's device buffers: nothing refers to them any more, and GPU memory is not
    // garbage-collected. Host tensors are left to the collector (callers may still hold their arrays).
    for (const t of old) if (t.location === 'gpu-buffer') t.dispose();
    return Object.fromEntries(METRICS.map((m) => [m, out[m]!]));
  }

  /** A step's metrics as numbers: one fetch_metrics.onnx call if they are on the device (which then frees them). */
  private async readMetrics(out: Record<string, Tensor>): Promise<StepMetrics> {
    let host = out;
    if (METRICS.some((m) => out[m]!.location === 'gpu-buffer')) {
      if (!this.sessions.fetchMetrics) throw new InputError(`${this.manifest.models.train_step}: the metrics are on the device and these artifacts have no fetch_metrics model; rebuild them with 'distill build --ep webgpu'`);
      const fetched = await this.sessions.fetchMetrics.run(out);
      host = Object.fromEntries(METRICS.map((m) => [m, fetched[fetchedName(m)]!]));
      for (const m of METRICS) if (out[m]!.location === 'gpu-buffer') out[m]!.dispose();
    }
    const value = (n: string) => Number((host[n]!.data as FloatArray)[0]);
    const [loss, ce, kd, gradNorm] = METRICS.map(value) as [number, number, number, number];
    return { loss, ce, kd, gradNorm };
  }

  /**
   * Parameters and optimizer state on the host, shaped as the step takes them, by name. The device copies stay
   * where they are (training goes on from them).
   */
  async fetch(): Promise<Map<string, Tensor>> {
    const host = new Map(this.current);
    if (![...this.current.values()].some((t) => t.location === 'gpu-buffer')) return host;
    if (!this.sessions.fetchState) throw new InputError(`${this.manifest.models.train_step}: the state is on the device and these artifacts have no fetch_state model; rebuild them with 'distill build --ep webgpu'`);
    const out = await this.sessions.fetchState.run(Object.fromEntries(this.current));
    for (const name of this.current.keys()) host.set(name, out[fetchedName(name)]!);
    return host;
  }

  /** Continues from these tensors (host or device, shaped as the step takes them); every name must be known. */
  set(tensors: ReadonlyMap<string, Tensor>): void {
    for (const [name, t] of tensors) {
      const old = this.current.get(name);
      if (!old) throw new InputError(`no parameter or optimizer state '${name}' in these artifacts`);
      if (old !== t && old.location === 'gpu-buffer') old.dispose();
      this.current.set(name, t);
    }
  }

  /** Frees the device buffers of the state (the sessions belong to the caller). */
  dispose(): void {
    for (const t of this.current.values()) if (t.location === 'gpu-buffer') t.dispose();
    this.current.clear();
  }
}
