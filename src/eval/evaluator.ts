/**
 * Runs a model over evaluation batches in an ONNX Runtime inference session and reports what NLP with
 * Transformers' PerformanceBenchmark compares between teacher and student: the task metric, latency per
 * batch, and model size.
 *
 * Latency is the wall time of `session.run` (inputs in, logits fetched) for each batch, measured with
 * performance.now() after one untimed warm-up run of the first batch (ORT allocates and plans on the first
 * run). Metrics are computed outside the timed region.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type ort from 'onnxruntime-node';
import type { Task } from '../data/examples.js';
import { DistillError, InputError } from '../errors.js';
import { readSidecar } from '../export/student.js';
import { DataType, isFloatType } from '../onnx/dtype.js';
import { type LoadedModel, loadModel } from '../onnx/model-io.js';
import { elementCount, tensorDims } from '../onnx/tensor.js';
import { type ExecutionProvider, createSession } from '../runtime/session.js';
import type { EvalBatch } from './batches.js';
import { type LatencyStats, latencyStats } from './metrics.js';
import { type EvalMetrics, TaskScores } from './task-scores.js';

export interface ModelSize {
  /** Bytes of the .onnx file and its external data files. */
  bytes: number;
  /** The files counted (the model first). */
  files: string[];
  /** Values in float and int8 initializers (as `distill inspect` counts parameters; a quantized model's int8 weights count too). */
  parameters: number;
}

/**
 * File bytes (external data included) and parameter count of an ONNX model. It loads the model as train,
 * inspect and quantize do (loadModel, external data resolved), so that it is also the check that the file is
 * an ONNX model whose external data exists and is complete: one line naming the file, before ORT, whose
 * errors for these cases are multi-line and name neither the problem nor the fix.
 */
export function modelSize(file: string, loaded: LoadedModel = loadModel(file)): ModelSize {
  const { model, externalFiles } = loaded;
  const files = [file, ...externalFiles.map((f) => path.join(path.dirname(file), f))];
  const bytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
  let parameters = 0;
  for (const t of model.graph!.initializer) if (isFloatType(t.dataType) || t.dataType === DataType.INT8) parameters += elementCount(tensorDims(t));
  return { bytes, files, parameters };
}

export type { EvalMetrics } from './task-scores.js';

export interface EvalReport {
  model: string;
  task: Task;
  /** Examples (rows of the data file) evaluated. */
  examples: number;
  metrics: EvalMetrics;
  latency: LatencyStats & {
    ep: ExecutionProvider;
    /** Timed session runs: batches x repeats. */
    runs: number;
    /** Per-example latency: each run's time divided by its batch's rows; median and p95 over the runs. */
    perExample: { p50Ms: number; p95Ms: number };
  };
  size: ModelSize;
}

export interface EvaluateOptions {
  model: string;
  task: Task;
  /** Batches as a file source yields them, or held in an array (timing several models on the same batches). */
  batches: AsyncIterable<EvalBatch> | Iterable<EvalBatch>;
  ep?: ExecutionProvider;
  threads?: number;
  /** Logits output (default: the sidecar's `logits`, else 'logits'). */
  logits?: string;
  /** Untimed runs of the first batch before timing (default 1). */
  warmup?: number;
  /** Timed runs of every batch (default 1); statistics are over all of them. */
  repeats?: number;
  /** modelSize(model), when the caller has it already (it reads every weight once). */
  size?: ModelSize;
}

/** The model's feeds from a batch: the inputs it takes, which the batch must provide. */
function feedsFor(session: ort.InferenceSession, batch: EvalBatch, model: string): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    const t = batch.feeds[name];
    if (!t) throw new InputError(`${model}: input '${name}' is not one the evaluation data provides (${Object.keys(batch.feeds).join(', ')})`);
    feeds[name] = t;
  }
  return feeds;
}

/**
 * An inference session on `model`. The file was checked (modelSize), so what ORT still refuses is the model
 * itself (an op or opset it lacks, a type mismatch): one line naming the file, ORT's first line as the reason.
 */
async function openSession(model: string, options: { ep: ExecutionProvider; threads?: number }): Promise<ort.InferenceSession> {
  try {
    return await createSession(model, options);
  } catch (e) {
    if (e instanceof DistillError) throw e;
    const why = String((e as Error)?.message ?? e).split('\n')[0]!.trim();
    throw new InputError(`${model}: ONNX Runtime cannot load this model (${why}); check that it runs in onnxruntime 1.30, or re-export it`);
  }
}

export async function evaluate(options: EvaluateOptions): Promise<EvalReport> {
  const { model, task } = options;
  const side = readSidecar(model);
  const logitsName = options.logits ?? side?.logits ?? 'logits';
  const ep = options.ep ?? 'cpu';
  // Size first: it checks the file (modelSize) before ORT opens it.
  const size = options.size ?? modelSize(model);
  const session = await openSession(model, { ep, threads: options.threads });
  try {
    if (!session.outputNames.includes(logitsName)) {
      throw new InputError(`${model}: no output '${logitsName}' (outputs: ${session.outputNames.join(', ')})`);
    }
    const scores = new TaskScores(task);
    const times: number[] = [];
    const perExample: number[] = [];
    let batches = 0;
    let examples = 0;
    const repeats = options.repeats ?? 1;
    if (!Number.isInteger(repeats) || repeats < 1) throw new InputError(`repeats must be an integer >= 1, got ${repeats}`);
    for await (const batch of options.batches) {
      const feeds = feedsFor(session, batch, model);
      if (times.length === 0) for (let k = 0; k < (options.warmup ?? 1); k++) await session.run(feeds, [logitsName]);
      let out: ort.InferenceSession.OnnxValueMapType = {};
      for (let k = 0; k < repeats; k++) {
        if (k > 0) for (const v of Object.values(out)) v.dispose?.();
        const t0 = performance.now();
        out = await session.run(feeds, [logitsName]);
        const ms = performance.now() - t0;
        times.push(ms);
        perExample.push(ms / batch.rows);
      }
      batches += 1;
      examples += batch.rows;

      const logits = out[logitsName]!;
      const width = logits.dims[logits.dims.length - 1] as number;
      const expectRank = task === 'seq-cls' ? 2 : 3;
      if (logits.dims.length !== expectRank) {
        throw new InputError(`${model}: '${logitsName}' has shape [${logits.dims.join(', ')}], not what task ${task} gives (rank ${expectRank}); pass the right --task`);
      }
      if (task !== 'causal-lm' && side?.num_labels && side.num_labels !== width) {
        throw new InputError(`${model}: logits have ${width} classes but its sidecar says num_labels ${side.num_labels}`);
      }
      scores.add(logits.data as Float32Array, width, batch.labels);
      logits.dispose?.();
    }
    const metrics: EvalMetrics | null = scores.metrics();
    if (times.length === 0 || !metrics) throw new InputError(`${model}: the evaluation data gave no batches`);
    if (metrics.counted === 0) throw new InputError(`${model}: no labeled ${task === 'seq-cls' ? 'rows' : 'positions'} to score`);
    const each = latencyStats(perExample);
    const latency = { ...latencyStats(times), batches, runs: times.length, perExample: { p50Ms: each.p50Ms, p95Ms: each.p95Ms }, ep };
    return { model, task, examples, metrics, latency, size };
  } finally {
    await session.release();
  }
}
