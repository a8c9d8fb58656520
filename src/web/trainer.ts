/**
 * Training in a web page: the step contract (step/contract.ts) driven one train_step.onnx call per step by
 * the shared StepDriver (runtime/step-driver.ts) on onnxruntime-web, with the Node trainer's data order,
 * schedule, teacher logits and metrics (data/, train/schedule.ts, eval/metrics.ts). Only the files
 * (web/source.ts) and the sessions (web/session.ts) are the browser's own.
 *
 * Numbers match `distill train` on the same artifacts: the same seeded batches, learning rate per optimizer
 * step, alpha 1 without a teacher, and the teacher's logits taken on the training batch itself the first
 * time an example is seen (test/web-page.test.ts compares the losses with onnxruntime-node's).
 */
import { InputError } from '../errors.js';
import { arrayBatches, isBuildableInput, batchesPerEpoch, type DataPosition } from '../data/batches.js';
import { type Example, labelSet, toExample } from '../data/examples.js';
import type { TextTokenizer } from '../data/text-tokenizer.js';
import { ClassificationStats } from '../eval/metrics.js';
import type { Sidecar } from '../export/sidecar.js';
import { maxTokens } from '../params/positions.js';
import { StepDriver, type StepMetrics, stepOutputLocations } from '../runtime/step-driver.js';
import { type Manifest, STEP_IO, STUDENT_FILE } from '../step/contract.js';
import { checkSchedule, learningRate, type Schedule, type ScheduleName } from '../train/schedule.js';
import { parseJsonl, readInitialParameters, readSidecarFrom, readTokenizerFrom, readWebManifest, WEB_FILES } from './artifacts.js';
import { type CheckpointStore } from './checkpoints.js';
import { checkpointBytes, restoreCheckpoint } from './checkpoint-file.js';
import { trainedModel, trainedSafetensors } from './export.js';
import { checkFits } from './fit.js';
import { checkGpuMetrics, checkStorageBuffers } from './gpu-check.js';
import { createWebSession, type GpuErrorWatch, type InferenceSession, type Ort, prepareWebGpu, type Tensor, type WebProvider } from './session.js';
import { type FileSource, readText } from './source.js';

export interface OpenOptions {
  /** The onnxruntime-web module (import * as ort from 'onnxruntime-web/wasm' or '.../webgpu'). */
  ort: Ort;
  source: FileSource;
  /** Default 'wasm'. */
  ep?: WebProvider;
}

/** Hugging Face Trainer names where there is one; the defaults are the demo's. */
export interface RunOptions {
  epochs?: number;
  /** Stop after this many optimizer steps (> 0), before the epochs are done. */
  maxSteps?: number;
  batchSize?: number;
  learningRate?: number;
  lrScheduler?: ScheduleName;
  warmupSteps?: number;
  seed?: number;
  shuffle?: boolean;
  alpha?: number;
  temperature?: number;
  maxGradNorm?: number;
  /** Save a checkpoint every this many optimizer steps (and at the end) into `store`. */
  saveSteps?: number;
  store?: CheckpointStore;
  /** The store's name for this run's checkpoint (default 'latest'). */
  checkpointName?: string;
  /** Continue from the checkpoint in `store` when there is one. */
  resume?: boolean;
  /** Awaited: the page evaluates inside it at an epoch's end. */
  onStep?(info: StepInfo): void | Promise<void>;
  /** Polled between steps: true ends the run after the current step (a checkpoint is saved when a store is set). */
  shouldStop?(): boolean;
}

export interface StepInfo extends StepMetrics {
  /** Optimizer steps done. */
  step: number;
  totalSteps: number;
  epoch: number;
  learningRate: number;
  /** Optimizer steps per second over the run so far (the first step's session warm-up included). */
  stepsPerSecond: number;
  /** Milliseconds of this step's train_step calls (teacher logits and batching excluded). */
  stepMs: number;
}

export interface RunResult {
  steps: number;
  losses: number[];
  seconds: number;
  stepsPerSecond: number;
  resumedFrom: number | null;
  interrupted: boolean;
}

/** Tokens per row, special tokens included, as `distill train --max-length` (cut to the student's positions). */
const MAX_LENGTH = 128;

const RUN_DEFAULTS = {
  epochs: 2, batchSize: 32, learningRate: 1e-3, lrScheduler: 'linear' as ScheduleName, warmupSteps: 0, seed: 42, shuffle: true,
  alpha: 0.5, temperature: 2, maxGradNorm: 1, checkpointName: 'latest',
};

export class WebTrainer {
  /** Optimizer steps taken (PyTorch's state['step']). */
  globalStep = 0;
  /** Where the data loader is: the next batch to train on. */
  position: DataPosition = { epoch: 0, batch: 0 };
  private readonly teacherMemory = new Map<number, Float32Array>();

  private constructor(
    readonly ort: Ort,
    readonly source: FileSource,
    readonly ep: WebProvider,
    readonly manifest: Manifest,
    readonly sidecar: Sidecar,
    readonly tokenizer: TextTokenizer | undefined,
    private readonly driver: StepDriver,
    private readonly evalSession: InferenceSession,
    private readonly teacher: InferenceSession | null,
    /** WebGPU only: the device's errors, checked after every step. */
    readonly gpu: GpuErrorWatch | null,
  ) {}

  /** Opens an artifacts folder: the step, eval and teacher sessions, and the initial parameters. */
  static async open(options: OpenOptions): Promise<WebTrainer> {
    const { ort, source } = options;
    const ep = options.ep ?? 'wasm';
    const manifest = await readWebManifest(source);
    const sidecar = await readSidecarFrom(source);
    const gpu = ep === 'webgpu' ? await prepareWebGpu(ort) : null;
    // Before any session: a run that cannot fit says so here, not as an allocation failure mid-run.
    checkFits(manifest, ep, gpu?.limits);
    const tokenizer = (await source.has(WEB_FILES.tokenizer)) ? await readTokenizerFrom(source, sidecar.vocab_size) : undefined;
    const needsTeacher = manifest.batch.some((b) => b.name === STEP_IO.teacherLogits);
    if (needsTeacher && !(await source.has(WEB_FILES.teacher))) {
      throw new InputError(`${source.description}: these artifacts distill from a teacher; put it in the folder as ${WEB_FILES.teacher}`);
    }
    const model = async (name: string) => {
      const bytes = await source.read(name);
      // JSEP computes wrong numbers silently for a node over the device's storage-buffer limit: refuse it here.
      if (gpu) checkStorageBuffers(bytes, `${source.description}${name}`, gpu.limits.maxStorageBuffersPerShaderStage);
      return bytes;
    };
    // A gpu build ('distill build --ep webgpu') on WebGPU keeps the state and the metrics in device buffers;
    // fetch_state.onnx and fetch_metrics.onnx bring them to the host.
    const onDevice = ep === 'webgpu' && manifest.target === 'gpu';
    const step = await createWebSession(ort, await model(manifest.models.train_step), manifest.models.train_step, {
      ep, training: true, ...(onDevice ? { outputLocations: stepOutputLocations(manifest) } : {}),
    });
    const fetchModel = async (name: string | undefined) => (onDevice && name ? createWebSession(ort, await model(name), name, { ep }) : null);
    const sessions = { step, fetchState: await fetchModel(manifest.models.fetch_state), fetchMetrics: await fetchModel(manifest.models.fetch_metrics) };
    const evalSession = await createWebSession(ort, await model(manifest.models.eval), manifest.models.eval, { ep });
    const teacher = needsTeacher ? await createWebSession(ort, await model(WEB_FILES.teacher), WEB_FILES.teacher, { ep }) : null;
    const driver = new StepDriver(manifest, ort.Tensor, sessions, await readInitialParameters(ort, source, manifest));
    return new WebTrainer(ort, source, ep, manifest, sidecar, tokenizer, driver, evalSession, teacher, gpu);
  }

  get task() {
    return this.manifest.task;
  }

  /** Rows of a JSONL file of the folder (default train.jsonl) as examples, checked as `distill train` checks them. */
  async examples(file: string = WEB_FILES.train, options: { maxLength?: number; allowUnlabeled?: boolean } = {}): Promise<Example[]> {
    const where = `${this.source.description}${file}`;
    return this.examplesOf(parseJsonl(await readText(this.source, file), where), where, options);
  }

  /** Rows given by the page (e.g. the bundled SpamAssassin rows) as examples. */
  examplesOf(rows: readonly { row: Record<string, unknown>; line: number }[], file: string, options: { maxLength?: number; allowUnlabeled?: boolean } = {}): Example[] {
    const positions = maxTokens(this.sidecar);
    const maxLength = Math.min(options.maxLength ?? MAX_LENGTH, positions ?? Infinity);
    const opts = {
      task: this.task, file, tokenizer: this.tokenizer, maxLength, vocabSize: this.sidecar.vocab_size,
      labels: this.task === 'causal-lm' ? undefined : labelSet(this.sidecar, undefined, `${this.source.description}${WEB_FILES.sidecar}`),
      allowUnlabeled: options.allowUnlabeled ?? this.teacher !== null,
    };
    return rows.map(({ row, line }) => toExample(row, line, opts));
  }

  /** The batches carry the student step's inputs and those the teacher reads besides (BERT's token_type_ids). */
  private collateOptions() {
    const student = this.manifest.batch.map((b) => b.name).filter((n) => n !== STEP_IO.labels && n !== STEP_IO.teacherLogits);
    const teacher = (this.teacher?.inputNames ?? []).filter(isBuildableInput);
    return { task: this.task, padId: this.sidecar.pad_token_id ?? 0, inputs: [...new Set([...student, ...teacher])] };
  }

  /** A batch tensor rebuilt on `ort`'s own Tensor class (no copy). */
  private own(t: Tensor): Tensor {
    return new this.ort.Tensor(t.type as 'int64', t.data as BigInt64Array, t.dims);
  }

  /**
   * Runs `work` (a session run), and on WebGPU stops on any error the device reported during it, or on an
   * exception from it, with the message GpuErrorWatch makes of them (named after `where`).
   */
  private async onDevice<T>(where: string, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (e) {
      if (!this.gpu) throw e;
      // Let the device's pending error events (uncapturederror, lost) arrive: they say more than ORT's exception.
      await new Promise((resolve) => setTimeout(resolve, 0));
      throw this.gpu.failure(where, e)!;
    }
    this.gpu?.check(where);
    return result;
  }

  /** The teacher's logits for a batch of `lines`: computed on the batch when an example is new, else remembered. */
  private async teacherLogits(batch: Record<string, Tensor>, lines: readonly number[]): Promise<Tensor> {
    const t = this.teacher!;
    const B = lines.length;
    if (!lines.every((l) => this.teacherMemory.has(l))) {
      const feeds: Record<string, Tensor> = {};
      for (const name of t.inputNames) {
        if (!batch[name]) throw new InputError(`${WEB_FILES.teacher} needs input '${name}', which the data does not provide`);
        feeds[name] = batch[name]!;
      }
      const out = (await this.onDevice(`${WEB_FILES.teacher} at step ${this.globalStep + 1}`, () => t.run(feeds)))[t.outputNames[0]!]!;
      const data = out.data as Float32Array;
      if (this.task !== 'seq-cls') throw new InputError(`${this.source.description}: the browser trainer distills sequence classifiers only so far (task ${this.task})`);
      const C = out.dims[out.dims.length - 1] as number;
      lines.forEach((l, r) => this.teacherMemory.set(l, data.slice(r * C, (r + 1) * C)));
      return out;
    }
    const C = this.teacherMemory.get(lines[0]!)!.length;
    const data = new Float32Array(B * C);
    lines.forEach((l, r) => data.set(this.teacherMemory.get(l)!, r * C));
    return new this.ort.Tensor('float32', data, [B, C]);
  }

  /** Trains on `examples` as `distill train` would with the same options. */
  async train(examples: readonly Example[], options: RunOptions = {}): Promise<RunResult> {
    const o = { ...RUN_DEFAULTS, ...options };
    const accum = this.manifest.accumulation_steps;
    const plan = { batchSize: o.batchSize, shuffle: o.shuffle, seed: o.seed, dropLast: accum > 1 };
    const updatesPerEpoch = Math.floor(batchesPerEpoch(examples.length, plan) / accum);
    if (updatesPerEpoch === 0) throw new InputError(`${examples.length} rows make no full optimizer step of ${accum} x ${o.batchSize}`);
    const totalSteps = o.maxSteps && o.maxSteps > 0 ? o.maxSteps : updatesPerEpoch * o.epochs;
    const epochs = o.maxSteps && o.maxSteps > 0 ? Math.ceil(o.maxSteps / updatesPerEpoch) : o.epochs;
    const schedule: Schedule = { name: o.lrScheduler, baseLr: o.learningRate, warmupSteps: o.warmupSteps, totalSteps };
    checkSchedule(schedule);
    const hyper = { alpha: this.teacher ? o.alpha : 1, temperature: o.temperature, maxGradNorm: o.maxGradNorm };
    const identity = { seed: o.seed, batchSize: o.batchSize, rows: examples.length, totalSteps };

    let resumedFrom: number | null = null;
    if (o.resume && o.store) {
      const bytes = await o.store.load(o.checkpointName);
      if (bytes) {
        const restored = restoreCheckpoint(this.ort, bytes, this.manifest, identity, `${o.store.kind} checkpoint '${o.checkpointName}'`);
        this.driver.set(restored.tensors);
        this.globalStep = restored.globalStep;
        this.position = restored.position;
        resumedFrom = restored.globalStep;
      }
    }
    const save = async () => {
      if (!o.store) return;
      const tensors = await this.driver.fetch();
      await o.store.save(o.checkpointName, checkpointBytes(tensors, this.manifest, { globalStep: this.globalStep, position: this.position, identity }));
    };

    const losses: number[] = [];
    const started = performance.now();
    const stepsAtStart = this.globalStep;
    let micro = 0;
    let interrupted = false;
    let stepMs = 0;
    for (const pb of arrayBatches(examples, plan, this.collateOptions(), this.position, epochs)) {
      if (this.globalStep >= totalSteps) break;
      const batch: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(pb.batch)) batch[name] = this.own(t);
      if (this.teacher) batch[STEP_IO.teacherLogits] = await this.teacherLogits(batch, pb.lines);
      const lr = learningRate(schedule, this.globalStep);
      const apply = (micro + 1) % accum === 0;
      const callStarted = performance.now();
      // One step per call: the page shows every step, and the checks below run before the next one.
      const [m] = (await this.onDevice(`${this.manifest.models.train_step} at step ${this.globalStep + 1}`, () =>
        this.driver.run([batch], [{ lr, step: this.globalStep + 1, apply }], hyper))) as [StepMetrics];
      stepMs += performance.now() - callStarted;
      if (!Number.isFinite(m.loss)) throw new InputError(`the loss is NaN or infinite at step ${this.globalStep + 1}; lower the learning rate or check the data`);
      if (this.gpu) checkGpuMetrics(m, this.globalStep + 1);
      micro++;
      this.position = pb.next;
      losses.push(m.loss);
      if (!apply) continue;
      this.globalStep++;
      const seconds = (performance.now() - started) / 1000;
      // A step's loss is the mean over its accumulation window's micro-batches, as `distill train` logs it.
      const loss = losses.slice(-accum).reduce((a, b) => a + b, 0) / accum;
      await o.onStep?.({ ...m, loss, step: this.globalStep, totalSteps, epoch: pb.next.epoch + pb.next.batch / batchesPerEpoch(examples.length, plan), learningRate: lr, stepsPerSecond: (this.globalStep - stepsAtStart) / seconds, stepMs });
      stepMs = 0;
      if (o.saveSteps && this.globalStep % o.saveSteps === 0) await save();
      if (o.shouldStop?.()) {
        interrupted = this.globalStep < totalSteps;
        break;
      }
    }
    await save();
    const seconds = (performance.now() - started) / 1000;
    return { steps: this.globalStep, losses, seconds, stepsPerSecond: (this.globalStep - stepsAtStart) / seconds, resumedFrom, interrupted };
  }

  /** Accuracy, macro F1 and mean cross-entropy of the current parameters on `examples` (seq-cls, token-cls). */
  async evaluate(examples: readonly Example[], batchSize = 32): Promise<{ accuracy: number; f1: number; loss: number; counted: number }> {
    if (this.task === 'causal-lm') throw new InputError('evaluate: the browser trainer reports classification metrics; causal-lm is not supported here yet');
    const params = await this.driver.fetch();
    const shaped = new Map([...this.manifest.parameters].map((p) => {
      const t = params.get(p.name)!;
      return [p.name, new this.ort.Tensor(t.type as 'float32', t.data as Float32Array, p.shape)];
    }));
    let stats: ClassificationStats | undefined;
    let ceSum = 0;
    let counted = 0;
    const s = this.evalSession;
    for (const pb of arrayBatches(examples, { batchSize, shuffle: false, seed: 0 }, { ...this.collateOptions(), withLabels: true }, undefined, 1)) {
      const feeds: Record<string, Tensor> = {};
      for (const name of s.inputNames) {
        const t = pb.batch[name] ? this.own(pb.batch[name]!) : shaped.get(name);
        if (!t) throw new InputError(`${this.manifest.models.eval}: input '${name}' is neither a batch input nor a parameter`);
        feeds[name] = t;
      }
      const out = await this.onDevice(this.manifest.models.eval, () => s.run(feeds));
      const logits = out[s.outputNames[0]!]!;
      const labels = pb.batch.labels!.data as BigInt64Array;
      stats ??= new ClassificationStats(logits.dims[logits.dims.length - 1] as number);
      stats.update(logits.data as Float32Array, labels);
      const n = labels.reduce((k, v) => k + (v === -100n ? 0 : 1), 0);
      ceSum += Number((out.ce!.data as Float32Array)[0]) * n;
      counted += n;
    }
    return { accuracy: stats!.accuracy(), f1: stats!.macroF1(), loss: ceSum / Math.max(1, counted), counted };
  }

  /** The trained student: its own inference graph (student.onnx of the folder) with the trained weights. */
  async exportModel(): Promise<Uint8Array> {
    return trainedModel(await this.source.read(STUDENT_FILE), this.manifest, await this.driver.fetch(), `${this.source.description}${STUDENT_FILE}`);
  }

  /** The trained weights as Hugging Face's model.safetensors (names from the sidecar). */
  async exportSafetensors(): Promise<Uint8Array> {
    return trainedSafetensors(await this.source.read(STUDENT_FILE), this.manifest, this.sidecar, await this.driver.fetch(), `${this.source.description}${STUDENT_FILE}`);
  }

  /** Frees the state's device buffers (sessions are released with the page). */
  dispose(): void {
    this.driver.dispose();
  }
}
