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
import { type BatchPlan, type CollateOptions, type DataPosition, type PositionedBatch, arrayBatches, batchesPerEpoch, streamBatches } from '../data/batches.js';
import { type Example, type ExampleOptions, labelSet, toExample, toExamples } from '../data/examples.js';
import { readRows } from '../data/reader.js';
import { loadTokenizer } from '../data/tokenize.js';
import { DistillError, InputError } from '../errors.js';
import { ClassificationStats, LanguageModelStats, causalTargets } from '../eval/metrics.js';
import { exportHfWeights } from '../export/hf-weights.js';
import { exportStudent } from '../export/student.js';
import { writeModelFolder } from '../export/model-folder.js';
import { checkOutputDir, writeTrainingArgs } from './output-dir.js';
import { maxTokens, studentMetadata } from '../params/student.js';
import { STEP_IO } from '../step/contract.js';
import type { Batch } from '../runtime/batch.js';
import { EvalSession } from '../runtime/eval-session.js';
import { TrainerSession, type StepMetrics } from '../runtime/trainer-session.js';
import { writeFileAtomic } from '../util/fs.js';
import { type LogEntry, type TrainerState, checkpointName, writeCheckpoint } from './checkpoint.js';
import type { RunIdentity } from './checkpoint-manifest.js';
import { pruneCheckpoints, removeInterruptedWrites, resumeFrom } from './checkpoint-resume.js';
import { DivergenceWatch, allFinite } from './divergence.js';
import { lockOutputDir, type OutputLock } from './output-lock.js';
import { TRAIN_DEFAULTS, type TrainOptions } from './options.js';
import { checkSchedule, learningRate, type Schedule } from './schedule.js';
import { InputsDigest, TeacherLogits, cacheKey } from './teacher.js';

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

/**
 * Training examples, held in memory (shuffled per epoch by a seeded permutation) or streamed from the file
 * every epoch (`--streaming`, or automatically for files over STREAM_ABOVE_BYTES: shuffled through a
 * seeded buffer), so a dataset larger than memory trains.
 */
interface TrainingData {
  file: string;
  count: number;
  /** Digest of every example's token ids (the teacher-cache key's view of the data). */
  inputsDigest: string;
  batches(plan: BatchPlan, collate: CollateOptions, start: DataPosition, epochs: number): AsyncIterable<PositionedBatch>;
}

const STREAM_ABOVE_BYTES = 512 * 1024 * 1024;

async function readExamples(file: string, opts: ExampleOptions, streaming: boolean): Promise<TrainingData> {
  const examples: Example[] = [];
  const digest = new InputsDigest();
  let count = 0;
  for await (const { row, line } of readRows(file)) {
    const e = toExample(row, line, opts); // validates every row up front, also when streaming
    digest.add(e.line, e.input_ids, e.token_type_ids);
    count++;
    if (!streaming) examples.push(e);
  }
  if (count === 0) throw new InputError(`${file}: no rows`);
  const inputsDigest = digest.digest();
  return streaming
    ? { file, count, inputsDigest, batches: (plan, collate, start, epochs) => streamBatches(() => toExamples(readRows(file), opts), plan, collate, start, epochs) }
    : { file, count, inputsDigest, batches: (plan, collate, start, epochs) => toAsync(arrayBatches(examples, plan, collate, start, epochs)) };
}

async function* toAsync<T>(it: Iterable<T>): AsyncGenerator<T> {
  yield* it;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
/** Bytes of a batch's tensors. */
const batchBytes = (b: Batch) => Object.values(b).reduce((n, t) => n + (t.data as ArrayBufferView).byteLength, 0);

type TrainArgs = Partial<TrainOptions> & Pick<TrainOptions, 'student' | 'trainFile' | 'outputDir'>;

/** Trains as `partial` says; the output folder is locked against other runs from when it is first written to the end. */
export async function train(partial: TrainArgs, cb: TrainCallbacks = {}): Promise<TrainResult> {
  const held: { lock?: OutputLock } = {};
  try {
    return await trainLocked(partial, cb, held);
  } finally {
    held.lock?.release();
  }
}

async function trainLocked(partial: TrainArgs, cb: TrainCallbacks, held: { lock?: OutputLock }): Promise<TrainResult> {
  const opts: TrainOptions = { ...TRAIN_DEFAULTS, ...partial };
  // Another run's folder is not overwritten by accident (HF's --overwrite-output-dir); the run's arguments
  // are saved beside its results (below, once the task is known).
  checkOutputDir(opts.outputDir, { overwrite: opts.overwriteOutputDir ?? false, resuming: opts.resumeFromCheckpoint !== undefined });
  // What the student's files say (its sidecar, config.json beside it or in --hf-model): task, labels, padding.
  const { sidecar, hf: hfFiles } = studentMetadata(opts.student, { hfModel: opts.hfModel });
  const task = opts.task ?? sidecar.task;
  if (!task) throw new InputError(`${opts.student}: no task given, and no config.json 'architectures' or distill.json sidecar names one; pass --task seq-cls|token-cls|causal-lm`);
  const schedule: Schedule = { name: opts.lrScheduler, baseLr: opts.learningRate, warmupSteps: opts.warmupSteps, totalSteps: 0 };
  checkSchedule(schedule);
  if (!(opts.batchSize >= 1)) throw new InputError(`--batch-size must be >= 1, got ${opts.batchSize}`);
  const accum = opts.gradientAccumulationSteps;

  // Data and tokenizer.
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

  // One run per folder; what a killed run's interrupted writes left is ours to remove once we hold it.
  held.lock = lockOutputDir(opts.outputDir);
  const leftovers = removeInterruptedWrites(opts.outputDir);
  if (leftovers.length) cb.onInfo?.(`removed ${leftovers.join(', ')} from ${opts.outputDir}: writes a killed run left unfinished`);
  fs.mkdirSync(opts.outputDir, { recursive: true });
  writeTrainingArgs(opts.outputDir, { ...opts, task });
  // Training artifacts, rebuilt on every run (under 3 s even for a base-size student: docs/PERFORMANCE.md).
  const artifactsDir = path.join(opts.outputDir, 'artifacts');
  const optimizerSettings: Record<string, number | boolean> = opts.optimizer === 'sgd'
    ? { momentum: opts.momentum, weightDecay: opts.weightDecay }
    : { beta1: opts.adamBeta1, beta2: opts.adamBeta2, eps: opts.adamEpsilon, weightDecay: opts.weightDecay };
  const manifest = buildTrainingArtifacts({
    student: opts.student, teacher: opts.teacher, task, optimizer: opts.optimizer, optimizerSettings,
    freeze: opts.freeze, trainable: opts.trainable, hfModel: opts.hfModel, accumulationSteps: accum, outDir: artifactsDir,
    // WebGPU trains on a build for the GPU (docs/WEBGPU.md): its step in ops the provider runs, one step per
    // call with the state on the device. Chunked updates (docs/TRAINING-STEP.md) are for the CPU's default
    // mode; low-memory mode never runs the step's update (its split step updates chunk by chunk from
    // JavaScript). Grouped updates of small parameters stay on everywhere: they only remove kernels.
    target: opts.ep === 'webgpu' ? 'gpu' : 'cpu',
    chunkedUpdate: !opts.lowMemory,
    narrowRows: opts.narrowRows,
  });
  const sessionOptions = { ep: opts.ep, threads: opts.threads };
  const session = await TrainerSession.open(artifactsDir, { ...sessionOptions, lowMemory: opts.lowMemory });
  const evaluator = evalSet ? await EvalSession.open(artifactsDir, manifest, sessionOptions) : undefined;
  // In low-memory mode the teacher, too, runs without ORT's arena: its activations go back after each batch.
  const teacher = opts.teacher
    ? TeacherLogits.open(opts.teacher, task !== 'seq-cls', { ...sessionOptions, memArena: !opts.lowMemory }, opts.teacherCache
      ? { dir: opts.teacherCache, key: cacheKey({ teacher: opts.teacher, inputsDigest: trainSet.inputsDigest }) }
      : undefined)
    : undefined;
  if (teacher?.cacheHit) cb.onInfo?.(`teacher logits: using the cache in ${opts.teacherCache}`);

  // Plan: with accumulation, batches are stacked in windows, so a short last batch is dropped.
  const plan = { batchSize: opts.batchSize, shuffle: opts.shuffle, seed: opts.seed, dropLast: accum > 1 };
  const perEpoch = batchesPerEpoch(trainSet.count, plan);
  const updatesPerEpoch = Math.floor(perEpoch / accum);
  if (updatesPerEpoch === 0) throw new InputError(`${opts.trainFile}: ${trainSet.count} rows make no full optimizer step of ${accum} x ${opts.batchSize}`);
  const totalSteps = opts.maxSteps > 0 ? opts.maxSteps : updatesPerEpoch * opts.epochs;
  const epochs = opts.maxSteps > 0 ? Math.ceil(opts.maxSteps / updatesPerEpoch) : opts.epochs;
  schedule.totalSteps = totalSteps;

  let state: TrainerState = {
    global_step: 0, epoch: 0, max_steps: totalSteps, num_train_epochs: epochs, log_history: [], best_metric: null,
    best_model_checkpoint: null, data_position: { epoch: 0, batch: 0 }, patience_used: 0, seed: opts.seed,
  };
  // What a checkpoint's batches, data position and optimizer state mean: a resume must share all of it.
  const run: RunIdentity = {
    '--seed': opts.seed, '--batch-size': opts.batchSize, '--gradient-accumulation-steps': accum, '--shuffle': opts.shuffle,
    '--optimizer': opts.optimizer, '--task': task, '--max-length': maxLength,
    '--train-file': `of ${trainSet.count} rows with token digest ${trainSet.inputsDigest.slice(0, 16)}`,
  };
  // The newest checkpoint whose weights are finite: what a divergence error points the user to.
  let lastGood: string | undefined;
  // The step and folder of the newest checkpoint on disk, so the last one is not written twice.
  let savedStep = -1;
  let savedDir = '';
  if (opts.resumeFromCheckpoint) {
    const ckpt = resumeFrom(opts.resumeFromCheckpoint, opts.outputDir, run, cb.onInfo);
    session.restore(ckpt.tensors, ckpt.state.global_step);
    state = ckpt.state;
    lastGood = ckpt.dir;
    [savedStep, savedDir] = [state.global_step, ckpt.dir];
    cb.onInfo?.(`resuming from ${ckpt.dir} at step ${state.global_step}`);
  }

  const metricName = task === 'causal-lm' ? 'eval_perplexity' : task === 'token-cls' ? 'eval_token_accuracy' : 'eval_accuracy';
  const higherIsBetter = task !== 'causal-lm';
  const hyper = { alpha: opts.teacher ? opts.alpha : 1, temperature: opts.temperature, maxGradNorm: opts.maxGradNorm };
  const collateOpts = { task, padId: sidecar.pad_token_id ?? 0, inputs: manifest.batch.map((b) => b.name).filter((n) => n !== STEP_IO.labels && n !== STEP_IO.teacherLogits) };

  const started = performance.now();
  let samples = 0;
  let interrupted = false;
  let stopped = false;
  // The open logging window and the loss total, carried over by a resume (TrainerState.running_loss).
  const window: { losses: number[]; gradNorms: number[] } = { losses: [...state.running_loss?.window_losses ?? []], gradNorms: [...state.running_loss?.window_grad_norms ?? []] };
  let lossSum = state.running_loss?.loss_sum ?? 0;
  let lossCount = state.running_loss?.loss_count ?? 0;
  const divergence = new DivergenceWatch();
  let pending: { pb: PositionedBatch; batch: Batch }[] = [];

  const epochAt = (pos: DataPosition) => pos.epoch + pos.batch / perEpoch;
  const diverged = (what: string, step: number) => new DistillError(
    `${what} at step ${step} (lower --learning-rate or check the data); the last good checkpoint is ${lastGood ?? 'none (none was saved yet)'}`,
  );
  const save = async () => {
    await session.sync();
    const tensors = session.snapshot();
    if (!allFinite([...tensors.values()].map((t) => t.data as Float32Array))) throw diverged('the weights are NaN or infinite', state.global_step);
    state.running_loss = { window_losses: [...window.losses], window_grad_norms: [...window.gradNorms], loss_sum: lossSum, loss_count: lossCount };
    const dir = writeCheckpoint(opts.outputDir, tensors, state, run);
    savedStep = state.global_step;
    savedDir = dir;
    lastGood = dir;
    cb.onSave?.(dir);
    if (opts.saveTotalLimit) {
      for (const gone of pruneCheckpoints(opts.outputDir, opts.saveTotalLimit, [dir, state.best_model_checkpoint])) cb.onInfo?.(`deleted ${gone} (--save-total-limit ${opts.saveTotalLimit})`);
    }
    return dir;
  };
  // The checkpoint of a new best evaluation names itself as the best, so a resume from it knows.
  const saveBest = async () => {
    state.best_model_checkpoint = path.join(opts.outputDir, checkpointName(state.global_step));
    await save();
  };
  const evaluate = async (): Promise<Record<string, number> | null> => {
    if (!evaluator || !evalSet) return null;
    let cls: ClassificationStats | undefined;
    let lm: LanguageModelStats | undefined;
    let ceSum = 0;
    let counted = 0;
    const evalPlan = { batchSize: opts.batchSize, shuffle: false, seed: 0 };
    await session.sync();
    const parameters = session.parameters();
    for await (const pb of evalSet.batches(evalPlan, { ...collateOpts, withLabels: true }, { epoch: 0, batch: 0 }, 1)) {
      const { logits, ce } = await evaluator.run(pb.batch, parameters);
      const C = logits.dims[logits.dims.length - 1] as number;
      const data = logits.data as Float32Array;
      if (task === 'causal-lm') {
        const [B, S] = pb.batch.input_ids!.dims as [number, number];
        lm ??= new LanguageModelStats(C);
        lm.update(data, causalTargets(pb.batch.input_ids!.data as BigInt64Array, (pb.batch.attention_mask?.data as BigInt64Array) ?? null, B, S));
      } else {
        cls ??= new ClassificationStats(C);
        const labels = pb.batch.labels!.data as BigInt64Array;
        cls.update(data, labels);
        const n = labels.reduce((k, v) => k + (v === -100n ? 0 : 1), 0);
        ceSum += ce * n;
        counted += n;
      }
    }
    if (lm) return { eval_loss: lm.loss(), eval_perplexity: lm.perplexity() };
    const out: Record<string, number> = { eval_loss: ceSum / Math.max(1, counted) };
    if (task === 'seq-cls') Object.assign(out, { eval_accuracy: cls!.accuracy(), eval_f1: cls!.macroF1() });
    else out.eval_token_accuracy = cls!.accuracy();
    return out;
  };
  const afterEval = (metrics: Record<string, number>) => {
    const entry: LogEntry = { step: state.global_step, epoch: state.epoch, ...metrics };
    state.log_history.push(entry);
    cb.onLog?.(entry);
    const m = metrics[metricName]!;
    const better = state.best_metric === null || (higherIsBetter ? m > state.best_metric : m < state.best_metric);
    if (better) {
      state.best_metric = m;
      state.patience_used = 0;
      return true;
    }
    state.patience_used++;
    if (opts.earlyStoppingPatience !== undefined && state.patience_used >= opts.earlyStoppingPatience) {
      cb.onInfo?.(`early stopping: ${metricName} did not improve for ${state.patience_used} evaluations`);
      stopped = true;
    }
    return false;
  };

  const flush = async () => {
    if (pending.length === 0) return;
    const start = state.global_step;
    const lrs = pending.map((_, i) => learningRate(schedule, start + Math.floor(i / accum)));
    const metrics: StepMetrics[] = await session.train(pending.map((p) => p.batch), lrs, hyper);
    const bad = metrics.findIndex((m) => !Number.isFinite(m.loss));
    if (bad >= 0) throw diverged('the loss is NaN or infinite', start + Math.floor(bad / accum) + 1);
    for (const [i, m] of metrics.entries()) {
      window.losses.push(m.loss);
      lossSum += m.loss;
      lossCount++;
      const warning = divergence.add(start + Math.floor(i / accum) + 1, m.loss);
      if (warning) cb.onInfo?.(warning);
      if ((i + 1) % accum !== 0) continue;
      window.gradNorms.push(m.gradNorm);
      // Every call returns the metrics of each of its steps, so a log entry needs no call to end at its step.
      const step = start + (i + 1) / accum;
      if (step % opts.loggingSteps === 0) {
        const entry: LogEntry = { step, epoch: epochAt(pending[i]!.pb.next), loss: mean(window.losses), grad_norm: mean(window.gradNorms), learning_rate: lrs[i]! };
        state.log_history.push(entry);
        cb.onLog?.(entry);
        window.losses = [];
        window.gradNorms = [];
      }
    }
    samples += pending.reduce((n, p) => n + (p.batch.input_ids!.dims[0] as number), 0);
    state.global_step += pending.length / accum;
    state.data_position = pending[pending.length - 1]!.pb.next;
    state.epoch = epochAt(state.data_position);
    const lr = lrs[lrs.length - 1]!;
    const elapsed = (performance.now() - started) / 1000;
    const recent = metrics.slice(-accum * 4).map((m) => m.loss);
    cb.onProgress?.({ step: state.global_step, totalSteps, epoch: state.epoch, loss: mean(recent), learningRate: lr, samplesPerSecond: samples / elapsed });
    pending = [];
    if (opts.evalSteps && state.global_step % opts.evalSteps === 0) {
      const metrics2 = await evaluate();
      if (metrics2 && afterEval(metrics2)) await saveBest();
    }
    if (opts.saveSteps && state.global_step % opts.saveSteps === 0) await save();
  };

  // Steps after which the weights are needed: an evaluation, a checkpoint, the end. Calls end there.
  const boundary = (stepAfter: number) =>
    (opts.evalSteps && stepAfter % opts.evalSteps === 0) || (opts.saveSteps && stepAfter % opts.saveSteps === 0) || stepAfter >= totalSteps;

  try {
    let epochOfLast = state.data_position.epoch;
    for await (const pb of trainSet.batches(plan, collateOpts, state.data_position, epochs)) {
      if (pb.position.epoch !== epochOfLast) {
        // Epoch end: a partial accumulation window is dropped (its micro-batches cannot make a full step) and
        // the teacher's logits are cached. Only an evaluation needs the weights now; without one the pending
        // steps carry on into the next epoch's call, since every call ends with a copy of all parameters and
        // optimizer state out of ORT (docs/PERFORMANCE.md).
        pending.splice(pending.length - (pending.length % accum));
        teacher?.save();
        epochOfLast = pb.position.epoch;
        if (evaluator && evalSet) {
          await flush();
          const metrics = await evaluate();
          if (metrics && afterEval(metrics)) await saveBest();
          if (stopped) break;
        }
      }
      if (pending.length > 0 && pending[0]!.batch.input_ids!.dims[0] !== pb.batch.input_ids!.dims[0]) await flush();
      const batch: Batch = { ...pb.batch };
      if (teacher) batch.teacher_logits = await teacher.forBatch(pb.batch, pb.lines) as ort.Tensor;
      pending.push({ pb, batch });
      const stepAfter = state.global_step + Math.floor(pending.length / accum);
      // The call also ends where one more batch would take it past its byte budget (stacking pads every batch
      // of a call to the longest, so the largest batch counts for each).
      const widest = Math.max(...pending.map((p) => batchBytes(p.batch)));
      const full = pending.length >= opts.stepsPerCall * accum || (pending.length + 1) * widest > opts.callBytes;
      if (pending.length % accum === 0 && (full || boundary(stepAfter))) await flush();
      if (state.global_step >= totalSteps || stopped) break;
      if (pending.length === 0 && cb.shouldStop?.()) {
        interrupted = true;
        break;
      }
    }
    if (pending.length % accum === 0) await flush();
    // The logits of every example seen so far (a full epoch, or more) are worth keeping.
    teacher?.save();
  } finally {
    await teacher?.release();
  }

  // Written once: a save step that is also the last step has saved it already.
  const finalCheckpoint = savedStep === state.global_step ? savedDir : await save();
  const elapsed = (performance.now() - started) / 1000;
  let evalMetrics: Record<string, number> | null = null;
  if (!interrupted) {
    evalMetrics = await evaluate();
    if (evalMetrics && afterEval(evalMetrics)) state.best_model_checkpoint = finalCheckpoint;
    // The prepared student (one initializer per parameter, its sidecar naming them as HF does) takes the
    // trained values; model.safetensors gets the HF names from that sidecar.
    const exported = exportStudent({ student: manifest.student, parameters: session.parameterArrays(), out: path.join(opts.outputDir, 'model.onnx') });
    const hf = exportHfWeights({ model: exported.model, outDir: opts.outputDir });
    // A model folder transformers (model.safetensors) and transformers.js (onnx/model.onnx) load as they are.
    const folder = writeModelFolder({
      outDir: opts.outputDir, model: exported.model, sources: [...new Set([path.dirname(opts.student), hfFiles.dir])], task, labels: labels?.names ?? null,
    });
    for (const w of folder.warnings) cb.onInfo?.(w);
    if (hf.note) cb.onInfo?.(`model.safetensors: ${hf.note}`);
  }
  const results = {
    train_runtime: elapsed,
    train_samples_per_second: samples / elapsed,
    train_steps_per_second: state.global_step / elapsed,
    train_loss: lossSum / Math.max(1, lossCount),
    epoch: state.epoch,
  };
  writeFileAtomic(path.join(opts.outputDir, 'trainer_state.json'), `${JSON.stringify(state, null, 2)}\n`);
  writeFileAtomic(path.join(opts.outputDir, 'train_results.json'), `${JSON.stringify(results, null, 2)}\n`);
  if (evalMetrics) writeFileAtomic(path.join(opts.outputDir, 'eval_results.json'), `${JSON.stringify({ ...evalMetrics, epoch: state.epoch }, null, 2)}\n`);
  await session.release();
  await evaluator?.release();
  return {
    outputDir: opts.outputDir, globalStep: state.global_step, interrupted, trainRuntime: elapsed,
    trainSamplesPerSecond: results.train_samples_per_second, trainStepsPerSecond: results.train_steps_per_second,
    trainLoss: results.train_loss, evalMetrics,
  };
}
