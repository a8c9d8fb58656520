/**
 * The training loop: data -> (teacher logits) -> K-step ORT calls -> logs, evaluation, checkpoints -> the
 * trained student. It never prints: progress goes to callbacks (the CLI draws a bar or log lines).
 *
 * Resuming: a checkpoint holds parameters, optimizer state, the step count and the data position (epoch,
 * batch); batch order is a pure function of (seed, epoch), and K-step calls give bit-identical weights to
 * one-step calls, so a resumed run reaches exactly the weights of an uninterrupted one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type ort from 'onnxruntime-node';
import { buildTrainingArtifacts } from '../step/artifacts.js';
import { type CollateOptions, checkFeedableInputs, type DataPosition, type PositionedBatch, batchesPerEpoch } from '../data/batches.js';
import { type ExampleOptions, type LabelSet, type Task, labelSet } from '../data/examples.js';
import { loadTokenizer } from '../data/tokenize.js';
import { DistillError, InputError } from '../errors.js';
import { toEvalBatch } from '../eval/batches.js';
import { IGNORE } from '../eval/metrics.js';
import { TaskScores } from '../eval/task-scores.js';
import { exportHfWeights } from '../export/hf-weights.js';
import { exportStudent } from '../export/student.js';
import { writeModelFolder } from '../export/model-folder.js';
import { checkOutputDir, writeTrainingArgs } from './output-dir.js';
import { maxTokens, studentMetadata } from '../params/student.js';
import { type Manifest, STEP_IO } from '../step/contract.js';
import type { Batch } from '../runtime/batch.js';
import { EvalSession } from '../runtime/eval-session.js';
import { TrainerSession, type StepMetrics } from '../runtime/trainer-session.js';
import { writeFileAtomic } from '../util/fs.js';
import { graphInputNames, loadModel } from '../onnx/model-io.js';
import { type LogEntry, type TrainerState, checkpointName, writeCheckpoint } from './checkpoint.js';
import type { RunIdentity } from './checkpoint-manifest.js';
import { pruneCheckpoints, removeInterruptedWrites, resumeFrom } from './checkpoint-resume.js';
import { DivergenceWatch, allFinite } from './divergence.js';
import { lockOutputDir, type OutputLock } from './output-lock.js';
import { TRAIN_DEFAULTS, type TrainArgs, type TrainOptions, checkCombination, checkOptionValues, optimizerSettings } from './options.js';
import { checkSchedule, learningRate, type Schedule } from './schedule.js';
import type { TeacherLogits } from './teacher.js';
import { openTeacher } from './teacher-setup.js';
import { STREAM_ABOVE_BYTES, type TrainingData, readExamples } from './training-data.js';

export interface Progress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  learningRate: number;
  samplesPerSecond: number;
}

export interface TrainCallbacks {
  onLog?(entry: LogEntry): void;
  onProgress?(p: Progress): void;
  onSave?(checkpoint: string): void;
  onInfo?(message: string): void;
  /** Polled between ORT calls: true stops the run after saving a checkpoint (Ctrl-C). */
  shouldStop?(): boolean;
}

export interface TrainResult {
  outputDir: string;
  globalStep: number;
  interrupted: boolean;
  trainRuntime: number;
  trainSamplesPerSecond: number;
  trainStepsPerSecond: number;
  trainLoss: number;
  evalMetrics: Record<string, number> | null;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
/** Bytes of a batch's tensors. */
const batchBytes = (b: Batch) => Object.values(b).reduce((n, t) => n + (t.data as ArrayBufferView).byteLength, 0);


/** Trains as `partial` says; the output folder is locked against other runs from when it is first written to the end. */
export async function train(partial: TrainArgs, cb: TrainCallbacks = {}): Promise<TrainResult> {
  const held = new Held();
  try {
    const trainer = await Trainer.prepare({ ...TRAIN_DEFAULTS, ...partial }, cb, held);
    await trainer.trainEpochs();
    await held.releaseTeacher();
    return await trainer.finish();
  } finally {
    await held.release();
  }
}

/** What a run holds that goes back however it ends (a thrown NaN stop too): the native sessions and the output-folder lock. */
class Held {
  lock?: OutputLock;
  session?: TrainerSession;
  evaluator?: EvalSession;
  teacher?: TeacherLogits;

  /** The teacher alone, as soon as the training batches are done: its memory is not needed for the export. */
  async releaseTeacher(): Promise<void> {
    const teacher = this.teacher;
    this.teacher = undefined;
    await teacher?.release();
  }

  async release(): Promise<void> {
    try {
      await this.releaseTeacher();
      await this.session?.release();
      await this.evaluator?.release();
    } finally {
      this.session = this.evaluator = undefined;
      this.lock?.release();
      this.lock = undefined;
    }
  }
}

/** What the student's files say (its sidecar, config.json beside it or in --hf-model). */
type StudentMetadata = ReturnType<typeof studentMetadata>;

/** What prepare() settles before the first step: the data, the step models and the plan of steps. */
interface Setup {
  opts: TrainOptions;
  task: Task;
  labels: LabelSet | undefined;
  /** Folders whose tokenizer and config files the exported model folder copies. */
  sources: string[];
  maxLength: number;
  trainSet: TrainingData;
  evalSet: TrainingData | undefined;
  manifest: Manifest;
  session: TrainerSession;
  evaluator: EvalSession | undefined;
  teacher: TeacherLogits | undefined;
  plan: { batchSize: number; shuffle: boolean; seed: number; dropLast: boolean };
  perEpoch: number;
  totalSteps: number;
  epochs: number;
  schedule: Schedule;
  collate: CollateOptions;
}

/**
 * One training run, in the seams of HF's Trainer: prepare (data, step models, sessions, resume), the epochs
 * of K-step calls (runCall), after each call maybe log, evaluate and save, and finish (the last checkpoint,
 * evaluation and the exported model folder).
 */
class Trainer {
  private state: TrainerState;
  /** What a checkpoint's batches, data position and optimizer state mean: a resume must share all of it. */
  private readonly run: RunIdentity;
  /** The newest checkpoint whose weights are finite: what a divergence error points the user to. */
  private lastGood: string | undefined;
  /** The step and folder of the newest checkpoint on disk, so the last one is not written twice. */
  private saved = { step: -1, dir: '' };
  private readonly metricName: string;
  private readonly higherIsBetter: boolean;
  private readonly hyper: { alpha: number; temperature: number; maxGradNorm: number };
  private readonly started = performance.now();
  private samples = 0;
  private interrupted = false;
  /** Early stopping ended the run. */
  private stopped = false;
  /** The open logging window and the loss total, carried over by a resume (TrainerState.running_loss). */
  private window: { losses: number[]; gradNorms: number[] };
  private lossSum: number;
  private lossCount: number;
  private readonly divergence = new DivergenceWatch();
  /** The batches of the next call. */
  private pending: { pb: PositionedBatch; batch: Batch }[] = [];
  /** The step of the last evaluation and its metrics (each step is evaluated once). */
  private evaluatedStep = -1;
  private lastMetrics: Record<string, number> | null = null;

  private constructor(private readonly s: Setup, private readonly cb: TrainCallbacks) {
    const { opts, task } = s;
    this.state = {
      global_step: 0, epoch: 0, max_steps: s.totalSteps, num_train_epochs: s.epochs, log_history: [], best_metric: null,
      best_model_checkpoint: null, data_position: { epoch: 0, batch: 0 }, patience_used: 0, seed: opts.seed,
    };
    this.run = {
      '--seed': opts.seed, '--batch-size': opts.batchSize, '--gradient-accumulation-steps': opts.gradientAccumulationSteps, '--shuffle': opts.shuffle,
      '--optimizer': opts.optimizer, '--task': task, '--max-length': s.maxLength,
      '--train-file': `of ${s.trainSet.count} rows with token digest ${s.trainSet.inputsDigest.slice(0, 16)}`,
      // Another teacher would train the rest of the run toward other logits: its name and size tell them apart.
      '--teacher': opts.teacher ? `${path.basename(opts.teacher)} of ${fs.statSync(opts.teacher).size} bytes` : 'none',
    };
    if (opts.resumeFromCheckpoint) {
      const ckpt = resumeFrom(opts.resumeFromCheckpoint, opts.outputDir, this.run, cb.onInfo);
      s.session.restore(ckpt.tensors, ckpt.state.global_step);
      this.state = ckpt.state;
      this.lastGood = ckpt.dir;
      this.saved = { step: this.state.global_step, dir: ckpt.dir };
      cb.onInfo?.(`resuming from ${ckpt.dir} at step ${this.state.global_step}`);
    }
    this.metricName = task === 'causal-lm' ? 'eval_perplexity' : task === 'token-cls' ? 'eval_token_accuracy' : 'eval_accuracy';
    this.higherIsBetter = task !== 'causal-lm';
    this.hyper = { alpha: opts.teacher ? opts.alpha : 1, temperature: opts.temperature, maxGradNorm: opts.maxGradNorm };
    const running = this.state.running_loss;
    this.window = { losses: [...running?.window_losses ?? []], gradNorms: [...running?.window_grad_norms ?? []] };
    this.lossSum = running?.loss_sum ?? 0;
    this.lossCount = running?.loss_count ?? 0;
  }

  /** Checks the options, reads the data, takes the output folder, builds the step models and opens their sessions (into `held`). */
  static async prepare(opts: TrainOptions, cb: TrainCallbacks, held: Held): Promise<Trainer> {
    // The CLI checks these as it parses; library callers (and search trials, the demo) get the same checks.
    checkOptionValues(opts as unknown as Record<string, unknown>);
    checkCombination(opts);
    // The output folder gets model.onnx, config.json and the tokenizer: written into the student's (or the
    // teacher's) own folder they would replace the model the run reads, --overwrite-output-dir or not.
    for (const [role, file] of [['student', opts.student], ['teacher', opts.teacher]] as const) {
      if (file && path.resolve(path.dirname(file)) === path.resolve(opts.outputDir)) {
        throw new InputError(`--output-dir ${opts.outputDir} is the ${role}'s own folder; the trained model would replace ${file}: choose another folder`);
      }
    }
    // Another run's folder is not overwritten by accident (HF's --overwrite-output-dir); the run's arguments
    // are saved beside its results (below, once the task is known).
    checkOutputDir(opts.outputDir, { overwrite: opts.overwriteOutputDir ?? false, resuming: opts.resumeFromCheckpoint !== undefined });
    // What the student's files say (its sidecar, config.json beside it or in --hf-model): task, labels, padding.
    const student = studentMetadata(opts.student, { hfModel: opts.hfModel });
    const { sidecar, hf: hfFiles } = student;
    const task = opts.task ?? sidecar.task;
    if (!task) throw new InputError(`${opts.student}: no task given, and no config.json 'architectures' or distill.json sidecar names one; pass --task seq-cls|token-cls|causal-lm`);
    const schedule: Schedule = { name: opts.lrScheduler, baseLr: opts.learningRate, warmupSteps: opts.warmupSteps, totalSteps: 0 };
    checkSchedule(schedule);
    const accum = opts.gradientAccumulationSteps;

    // Inputs the data cannot feed (a TorchScript export's Python arguments) would otherwise surface later as
    // a misleading error about the logits' shape or the batches.
    checkFeedableInputs(opts.student, graphInputNames(loadModel(opts.student, { loadExternalData: false }).model));
    const teacherInputs = opts.teacher ? graphInputNames(loadModel(opts.teacher, { loadExternalData: false }).model) : [];
    if (opts.teacher) checkFeedableInputs(opts.teacher, teacherInputs);
    const { labels, maxLength, trainSet, evalSet, tokenizerFile, tokenizerVocab, exampleOptions, streaming } = await Trainer.readData(opts, task, student, cb);

    // Rows without a label train on the teacher's logits alone (a transfer set). A label field that no row
    // has is more likely a typo than a transfer set: named explicitly, it is an error; otherwise say so.
    if (opts.teacher && task !== 'causal-lm' && trainSet.labeled < trainSet.count) {
      if (trainSet.labeled === 0 && opts.labelField) throw new InputError(`${opts.trainFile}: no row has a label in field '${opts.labelField}' (--label-field); check the field's name`);
      const unlabeled = trainSet.labeled === 0 ? `no row has a label` : `${trainSet.count - trainSet.labeled} of ${trainSet.count} rows have no label`;
      cb.onInfo?.(`${opts.trainFile}: ${unlabeled} (field '${opts.labelField ?? (task === 'token-cls' ? 'labels' : 'label')}'); those rows learn from the teacher's logits alone`);
    }
    // One run per folder; what a killed run's interrupted writes left is ours to remove once we hold it.
    held.lock = lockOutputDir(opts.outputDir);
    const leftovers = removeInterruptedWrites(opts.outputDir);
    if (leftovers.length) cb.onInfo?.(`removed ${leftovers.join(', ')} from ${opts.outputDir}: writes a killed run left unfinished`);
    fs.mkdirSync(opts.outputDir, { recursive: true });
    writeTrainingArgs(opts.outputDir, { ...opts, task });
    // Training artifacts, rebuilt on every run (under 3 s even for a base-size student: docs/PERFORMANCE.md).
    const artifactsDir = path.join(opts.outputDir, 'artifacts');
    const manifest = buildTrainingArtifacts({
      student: opts.student, teacher: opts.teacher, task, optimizer: opts.optimizer, optimizerSettings: optimizerSettings(opts),
      freeze: opts.freeze, trainable: opts.trainable, hfModel: opts.hfModel, accumulationSteps: accum, outDir: artifactsDir,
      // WebGPU trains on a build for the GPU (docs/WEBGPU.md): its step in ops the provider runs, one step per
      // call with the state on the device. Chunked updates (docs/TRAINING-STEP.md) are for the CPU's default
      // mode; low-memory mode never runs the step's update (its split step updates chunk by chunk from
      // JavaScript). Grouped updates of small parameters stay on everywhere: they only remove kernels.
      target: opts.ep === 'webgpu' ? 'gpu' : 'cpu',
      chunkedUpdate: !opts.lowMemory,
      narrowRows: opts.narrowRows,
    });
    // What the parameter plan could not settle (docs/PARAMETERS.md): `distill build` prints the same lines.
    for (const w of manifest.warnings) cb.onInfo?.(`warning: ${w}`);
    const sessionOptions = { ep: opts.ep, threads: opts.threads };
    const session = held.session = await TrainerSession.open(artifactsDir, { ...sessionOptions, lowMemory: opts.lowMemory });
    const evaluator = held.evaluator = evalSet ? await EvalSession.open(artifactsDir, manifest, sessionOptions) : undefined;
    // The teacher checked against the student and opened (teacher-setup.ts). In low-memory mode it, too, runs
    // without ORT's arena: its activations go back after each batch.
    const teacherSetup = opts.teacher
      ? await openTeacher({
        teacher: opts.teacher, task, labels, labelsFrom: opts.labels?.length ? '--labels' : hfFiles.configFile ?? opts.student,
        studentTokenizer: tokenizerFile, studentVocab: tokenizerVocab, inputs: teacherInputs, trainSet, maxLength: opts.maxLength,
        teacherExamples: (tokenizer, maxLength) => readExamples(opts.trainFile, { ...exampleOptions(opts.trainFile, true), tokenizer, maxLength, vocabSize: tokenizer.vocabSize }, streaming),
        session: { ...sessionOptions, memArena: !opts.lowMemory }, cacheDir: opts.teacherCache, batchSize: opts.batchSize,
      }, cb, (t) => (held.teacher = t))
      : undefined;
    const teacher = teacherSetup?.logits;

    // Plan: with accumulation, batches are stacked in windows, so a short last batch is dropped.
    const plan = { batchSize: opts.batchSize, shuffle: opts.shuffle, seed: opts.seed, dropLast: accum > 1 };
    const perEpoch = batchesPerEpoch(trainSet.count, plan);
    const updatesPerEpoch = Math.floor(perEpoch / accum);
    if (updatesPerEpoch === 0) throw new InputError(`${opts.trainFile}: ${trainSet.count} rows make no full optimizer step of ${accum} x ${opts.batchSize}`);
    const totalSteps = opts.maxSteps > 0 ? opts.maxSteps : updatesPerEpoch * opts.epochs;
    const epochs = opts.maxSteps > 0 ? Math.ceil(opts.maxSteps / updatesPerEpoch) : opts.epochs;
    schedule.totalSteps = totalSteps;
    // The batches carry what the student's step reads and what the teacher reads besides (a teacher may take
    // an attention mask the student was exported without); each session picks its own inputs.
    const studentInputs = manifest.batch.map((b) => b.name).filter((n) => n !== STEP_IO.labels && n !== STEP_IO.teacherLogits);
    const collate = { task, padId: sidecar.pad_token_id ?? 0, inputs: [...new Set([...studentInputs, ...(teacherSetup?.ownBatches ? [] : teacherInputs)])] };
    const setup: Setup = {
      opts, task, labels, sources: [...new Set([path.dirname(opts.student), hfFiles.dir])], maxLength, trainSet, evalSet, manifest,
      session, evaluator, teacher, plan, perEpoch, totalSteps, epochs, schedule, collate,
    };
    return new Trainer(setup, cb);
  }

  /** The tokenizer, the label names and the training and eval sets, every row validated. */
  private static async readData(opts: TrainOptions, task: Task, student: StudentMetadata, cb: TrainCallbacks) {
    const { sidecar, hf: hfFiles } = student;
      const tokenizerFile = opts.tokenizer ?? [path.dirname(opts.student), hfFiles.dir].map((d) => path.join(d, 'tokenizer.json')).find((f) => fs.existsSync(f)) ?? '';
      const tokenizer = fs.existsSync(tokenizerFile) ? loadTokenizer(tokenizerFile, sidecar.vocab_size) : undefined;
      if (opts.tokenizer && !tokenizer) throw new InputError(`${opts.tokenizer}: tokenizer file does not exist`);
      const labels = task === 'causal-lm' ? undefined : labelSet(sidecar, opts.labels, hfFiles.configFile ?? `${opts.student} (pass --labels)`);
      // Rows longer than the position table would index past it: truncate to what the model can read.
      const positions = maxTokens(sidecar);
      const maxLength = positions !== undefined ? Math.min(opts.maxLength, positions) : opts.maxLength;
      if (maxLength < opts.maxLength) cb.onInfo?.(`rows are truncated to ${maxLength} tokens, the student's position table (max_position_embeddings), not --max-length ${opts.maxLength}`);
      const exampleOptions = (file: string, allowUnlabeled: boolean): ExampleOptions => ({
        task, file, tokenizer, maxLength, textField: opts.textField, textPairField: opts.textPairField,
        labelField: opts.labelField, labels, allowUnlabeled, vocabSize: sidecar.vocab_size,
      });
      const streaming = opts.streaming ?? fs.statSync(opts.trainFile, { throwIfNoEntry: false })?.size! > STREAM_ABOVE_BYTES;
      const trainSet = await readExamples(opts.trainFile, exampleOptions(opts.trainFile, opts.teacher !== undefined), streaming);
      const evalSet = opts.evalFile ? await readExamples(opts.evalFile, exampleOptions(opts.evalFile, false), false) : undefined;
    return { labels, maxLength, trainSet, evalSet, tokenizerFile: tokenizer ? tokenizerFile : undefined, tokenizerVocab: tokenizer?.vocabSize, exampleOptions, streaming };
  }

  private get accum(): number {
    return this.s.opts.gradientAccumulationSteps;
  }

  private epochAt(pos: DataPosition): number {
    return pos.epoch + pos.batch / this.s.perEpoch;
  }

  private diverged(what: string, step: number): DistillError {
    return new DistillError(`${what} at step ${step} (lower --learning-rate or check the data); the last good checkpoint is ${this.lastGood ?? 'none (none was saved yet)'}`);
  }

  /** Steps after which the weights are needed: an evaluation, a checkpoint, the end. Calls end there. */
  private boundary(stepAfter: number): boolean {
    const { evalSteps, saveSteps } = this.s.opts;
    return Boolean((evalSteps && stepAfter % evalSteps === 0) || (saveSteps && stepAfter % saveSteps === 0) || stepAfter >= this.s.totalSteps);
  }

  /** Every epoch's batches into K-step calls, until the last step, early stopping or a stop request. */
  async trainEpochs(): Promise<void> {
    const { opts, trainSet, teacher, evaluator, plan, collate, epochs } = this.s;
    const accum = this.accum;
    // A resume from the run's last checkpoint (a finished run, or one stopped during its last call) has no
    // step left: training on would go past --max-steps and change the results an uninterrupted run wrote.
    if (this.state.global_step >= this.s.totalSteps) {
      this.cb.onInfo?.(`the checkpoint is at step ${this.state.global_step} of ${this.s.totalSteps}: nothing left to train`);
      return;
    }
    let epochOfLast = this.state.data_position.epoch;
    for await (const pb of trainSet.batches(plan, collate, this.state.data_position, epochs)) {
      if (pb.position.epoch !== epochOfLast) {
        // Epoch end: a partial accumulation window is dropped (its micro-batches cannot make a full step) and
        // the teacher's logits are cached. Only an evaluation needs the weights now; without one the pending
        // steps carry on into the next epoch's call, since every call ends with a copy of all parameters and
        // optimizer state out of ORT (docs/PERFORMANCE.md).
        this.pending.splice(this.pending.length - (this.pending.length % accum));
        teacher?.save();
        epochOfLast = pb.position.epoch;
        if (evaluator) {
          await this.runCall();
          await this.evaluateAndMaybeSave();
          if (this.stopped) break;
        }
      }
      if (this.pending.length > 0 && this.pending[0]!.batch.input_ids!.dims[0] !== pb.batch.input_ids!.dims[0]) await this.runCall();
      const batch: Batch = { ...pb.batch };
      if (teacher) batch.teacher_logits = await teacher.forBatch(pb.batch, pb.lines) as ort.Tensor;
      this.pending.push({ pb, batch });
      const stepAfter = this.state.global_step + Math.floor(this.pending.length / accum);
      // The call also ends where one more batch would take it past its byte budget (stacking pads every batch
      // of a call to the longest, so the largest batch counts for each).
      const widest = Math.max(...this.pending.map((p) => batchBytes(p.batch)));
      const full = this.pending.length >= opts.stepsPerCall * accum || (this.pending.length + 1) * widest > opts.callBytes;
      if (this.pending.length % accum === 0 && (full || this.boundary(stepAfter))) await this.runCall();
      if (this.state.global_step >= this.s.totalSteps || this.stopped) break;
      if (this.pending.length === 0 && this.cb.shouldStop?.()) {
        this.interrupted = true;
        break;
      }
    }
    if (this.pending.length % accum === 0) await this.runCall();
    // The logits of every example seen so far (a full epoch, or more) are worth keeping.
    teacher?.save();
  }

  /** Runs the pending batches as one ORT call, then maybe evaluates and saves at the step it reached. */
  private async runCall(): Promise<void> {
    const pending = this.pending;
    if (pending.length === 0) return;
    const accum = this.accum;
    const start = this.state.global_step;
    const lrs = pending.map((_, i) => learningRate(this.s.schedule, start + Math.floor(i / accum)));
    const metrics: StepMetrics[] = await this.s.session.train(pending.map((p) => p.batch), lrs, this.hyper);
    const bad = metrics.findIndex((m) => !Number.isFinite(m.loss));
    if (bad >= 0) throw this.diverged('the loss is NaN or infinite', start + Math.floor(bad / accum) + 1);
    // A finite loss with non-finite gradients is no learning-rate problem: some value the loss does not read
    // is NaN, and the backward pass multiplies it by zero (NaN * 0 = NaN).
    const badGrad = metrics.findIndex((m, i) => (i + 1) % accum === 0 && !Number.isFinite(m.gradNorm));
    if (badGrad >= 0) {
      throw new DistillError(`the gradients are NaN or infinite at step ${start + Math.floor(badGrad / accum) + 1} while the loss is finite: the student computes a NaN that its logits do not read (e.g. a Softmax over a row masked everywhere, in an export that masks with -inf); find it with 'distill grad', or export with the other exporter (dynamo or TorchScript)`);
    }
    for (const [i, m] of metrics.entries()) this.record(m, start, i, lrs[i]!);
    this.samples += pending.reduce((n, p) => n + (p.batch.input_ids!.dims[0] as number), 0);
    this.state.global_step += pending.length / accum;
    this.state.data_position = pending[pending.length - 1]!.pb.next;
    this.state.epoch = this.epochAt(this.state.data_position);
    const elapsed = (performance.now() - this.started) / 1000;
    const recent = metrics.slice(-accum * 4).map((m) => m.loss);
    this.cb.onProgress?.({
      step: this.state.global_step, totalSteps: this.s.totalSteps, epoch: this.state.epoch, loss: mean(recent),
      learningRate: lrs[lrs.length - 1]!, samplesPerSecond: this.samples / elapsed,
    });
    this.pending = [];
    const { evalSteps, saveSteps } = this.s.opts;
    if (evalSteps && this.state.global_step % evalSteps === 0) await this.evaluateAndMaybeSave();
    if (saveSteps && this.state.global_step % saveSteps === 0) await this.save();
  }

  /** One micro-batch's metrics (the i-th of a call that started at step `start`): the loss totals, divergence, maybe a log entry. */
  private record(m: StepMetrics, start: number, i: number, lr: number): void {
    const accum = this.accum;
    this.window.losses.push(m.loss);
    this.lossSum += m.loss;
    this.lossCount++;
    const warning = this.divergence.add(start + Math.floor(i / accum) + 1, m.loss);
    if (warning) this.cb.onInfo?.(warning);
    if ((i + 1) % accum !== 0) return;
    this.window.gradNorms.push(m.gradNorm);
    // Every call returns the metrics of each of its steps, so a log entry needs no call to end at its step.
    const step = start + (i + 1) / accum;
    if (step % this.s.opts.loggingSteps === 0) {
      const entry: LogEntry = { step, epoch: this.epochAt(this.pending[i]!.pb.next), loss: mean(this.window.losses), grad_norm: mean(this.window.gradNorms), learning_rate: lr };
      this.log(entry);
      this.window = { losses: [], gradNorms: [] };
    }
  }

  private log(entry: LogEntry): void {
    this.state.log_history.push(entry);
    this.cb.onLog?.(entry);
  }

  /** Writes a checkpoint of the current weights (refusing non-finite ones) and prunes old ones; returns its folder. */
  private async save(): Promise<string> {
    const { opts, session } = this.s;
    // Device-mode WebGPU training keeps the state on the GPU: sync before reading it.
    await session.sync();
    const tensors = session.snapshot();
    if (!allFinite([...tensors.values()].map((t) => t.data as Float32Array))) throw this.diverged('the weights are NaN or infinite', this.state.global_step);
    const w = this.window;
    this.state.running_loss = { window_losses: [...w.losses], window_grad_norms: [...w.gradNorms], loss_sum: this.lossSum, loss_count: this.lossCount };
    const dir = writeCheckpoint(opts.outputDir, tensors, this.state, this.run);
    this.saved = { step: this.state.global_step, dir };
    this.lastGood = dir;
    this.cb.onSave?.(dir);
    this.prune([dir, this.state.best_model_checkpoint]);
    return dir;
  }

  /** Applies --save-total-limit, keeping `keep` (the newest checkpoint and the best one). */
  private prune(keep: (string | null)[]): void {
    const { outputDir, saveTotalLimit } = this.s.opts;
    if (!saveTotalLimit) return;
    for (const gone of pruneCheckpoints(outputDir, saveTotalLimit, keep)) this.cb.onInfo?.(`deleted ${gone} (--save-total-limit ${saveTotalLimit})`);
  }

  /** Loads the best checkpoint's weights into the session; returns its logged evaluation. */
  private restoreBest(dir: string): Record<string, number> | null {
    const best = resumeFrom(dir, this.s.opts.outputDir, this.run);
    this.s.session.restore(best.tensors, best.state.global_step);
    this.cb.onInfo?.(`early stopping: the trained model is ${dir}'s, the best ${this.metricName} (${this.state.best_metric})`);
    const entry = [...this.state.log_history].reverse().find((e) => e.step === best.state.global_step && this.metricName in e);
    if (!entry) return null;
    return Object.fromEntries(Object.entries(entry).filter(([k]) => k.startsWith('eval_')));
  }

  /**
   * Evaluates; the checkpoint of a new best evaluation is saved now and names itself as the best, so a resume
   * from it knows. A step is evaluated once: an --eval-steps step that also ends an epoch, or the run, is
   * neither logged twice nor counted twice against early stopping's patience.
   */
  private async evaluateAndMaybeSave(): Promise<void> {
    if (this.evaluatedStep === this.state.global_step) return;
    const metrics = await this.evaluate();
    if (!metrics) return;
    this.evaluatedStep = this.state.global_step;
    this.lastMetrics = metrics;
    if (!this.recordEvaluation(metrics)) return;
    this.state.best_model_checkpoint = path.join(this.s.opts.outputDir, checkpointName(this.state.global_step));
    await this.save();
  }

  /** The eval set's loss and task metric under the current weights (src/eval's TaskScores), or null without an eval set. */
  private async evaluate(): Promise<Record<string, number> | null> {
    const { evaluator, evalSet, session, task, opts, collate } = this.s;
    if (!evaluator || !evalSet) return null;
    const scores = new TaskScores(task);
    let ceSum = 0;
    let counted = 0;
    // Device-mode WebGPU training keeps the state on the GPU: sync before reading it.
    await session.sync();
    const parameters = session.parameters();
    const evalPlan = { batchSize: opts.batchSize, shuffle: false, seed: 0 };
    for await (const pb of evalSet.batches(evalPlan, { ...collate, withLabels: true }, { epoch: 0, batch: 0 }, 1)) {
      const { logits, ce } = await evaluator.run(pb.batch, parameters);
      const { labels } = toEvalBatch(pb.batch, task);
      scores.add(logits.data as Float32Array, logits.dims[logits.dims.length - 1] as number, labels);
      // The eval model's cross-entropy is a mean over the batch's labeled rows or tokens: weigh it by them.
      const n = labels.reduce((k, v) => k + (v === IGNORE ? 0 : 1), 0);
      ceSum += ce * n;
      counted += n;
    }
    const m = scores.metrics()!;
    if (task === 'causal-lm') return { eval_loss: m.loss!, eval_perplexity: m.perplexity! };
    const out: Record<string, number> = { eval_loss: ceSum / Math.max(1, counted) };
    if (task === 'seq-cls') Object.assign(out, { eval_accuracy: m.accuracy!, eval_f1: m.f1! });
    else out.eval_token_accuracy = m.accuracy!;
    return out;
  }

  /** Logs an evaluation and tracks the best metric and early stopping; true when it is a new best. */
  private recordEvaluation(metrics: Record<string, number>): boolean {
    const { state } = this;
    this.log({ step: state.global_step, epoch: state.epoch, ...metrics });
    const m = metrics[this.metricName]!;
    const better = state.best_metric === null || (this.higherIsBetter ? m > state.best_metric : m < state.best_metric);
    if (better) {
      state.best_metric = m;
      state.patience_used = 0;
      return true;
    }
    state.patience_used++;
    const patience = this.s.opts.earlyStoppingPatience;
    if (patience !== undefined && state.patience_used >= patience) {
      this.cb.onInfo?.(`early stopping: ${this.metricName} did not improve for ${state.patience_used} evaluations`);
      this.stopped = true;
    }
    return false;
  }

  /** The last checkpoint, and unless interrupted the last evaluation and the trained model folder; then the run's results files. */
  async finish(): Promise<TrainResult> {
    const { opts, session, manifest, task, labels, sources } = this.s;
    const state = this.state;
    // Written once: a save step that is also the last step has saved it already.
    const finalCheckpoint = this.saved.step === state.global_step ? this.saved.dir : await this.save();
    const elapsed = (performance.now() - this.started) / 1000;
    let evalMetrics: Record<string, number> | null = null;
    if (!this.interrupted) {
      if (this.evaluatedStep !== state.global_step) {
        evalMetrics = await this.evaluate();
        if (evalMetrics && this.recordEvaluation(evalMetrics)) {
          state.best_model_checkpoint = finalCheckpoint;
          // The last checkpoint was written while an older one was the best, which the limit then kept too.
          this.prune([finalCheckpoint]);
        }
      } else {
        evalMetrics = this.lastMetrics;
      }
      // Early stopping (HF: with load_best_model_at_end) hands back the best evaluation's weights, not the
      // last ones, which did not improve for --early-stopping-patience evaluations.
      if (this.stopped && state.best_model_checkpoint && path.resolve(state.best_model_checkpoint) !== path.resolve(finalCheckpoint)) {
        evalMetrics = this.restoreBest(state.best_model_checkpoint) ?? evalMetrics;
      }
      // The prepared student (one initializer per parameter, its sidecar naming them as HF does) takes the
      // trained values; model.safetensors gets the HF names from that sidecar.
      const exported = exportStudent({ student: manifest.student, parameters: session.parameterArrays(), out: path.join(opts.outputDir, 'model.onnx'), labels: labels?.names });
      const hf = exportHfWeights({ model: exported.model, outDir: opts.outputDir });
      // A model folder transformers (model.safetensors) and transformers.js (onnx/model.onnx) load as they are.
      const folder = writeModelFolder({ outDir: opts.outputDir, model: exported.model, sources, task, labels: labels?.names ?? null });
      for (const w of folder.warnings) this.cb.onInfo?.(w);
      if (hf.note) this.cb.onInfo?.(`model.safetensors: ${hf.note}`);
    }
    const results = {
      train_runtime: elapsed,
      train_samples_per_second: this.samples / elapsed,
      train_steps_per_second: state.global_step / elapsed,
      train_loss: this.lossSum / Math.max(1, this.lossCount),
      epoch: state.epoch,
    };
    writeFileAtomic(path.join(opts.outputDir, 'trainer_state.json'), `${JSON.stringify(state, null, 2)}\n`);
    writeFileAtomic(path.join(opts.outputDir, 'train_results.json'), `${JSON.stringify(results, null, 2)}\n`);
    if (evalMetrics) writeFileAtomic(path.join(opts.outputDir, 'eval_results.json'), `${JSON.stringify({ ...evalMetrics, epoch: state.epoch }, null, 2)}\n`);
    return {
      outputDir: opts.outputDir, globalStep: state.global_step, interrupted: this.interrupted, trainRuntime: elapsed,
      trainSamplesPerSecond: results.train_samples_per_second, trainStepsPerSecond: results.train_steps_per_second,
      trainLoss: results.train_loss, evalMetrics,
    };
  }
}
