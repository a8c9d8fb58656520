/**
 * The step contract: the names of the training-step models' inputs and outputs, their metrics, and the
 * manifest that describes a built artifacts folder. The builder (build/) writes by it and the runtimes
 * (runtime/, the browser's web/, a Python driver: docs/PYTHON-DRIVER.md) read by it, so it is spelled here
 * once. No Node.js APIs here: the browser entry point imports it too (step/read-manifest.ts reads the file).
 */
import { InputError } from '../errors.js';
import type { Task } from '../losses/distill.js';

/** Names of the inputs and outputs every step graph has (the manifest repeats them). */
export const STEP_IO = {
  labels: 'labels',
  teacherLogits: 'teacher_logits',
  alpha: 'alpha',
  temperature: 'temperature',
  lr: 'lr',
  step: 'step',
  maxGradNorm: 'max_grad_norm',
  applyUpdate: 'apply_update',
  loss: 'loss',
  ce: 'ce',
  kd: 'kd',
  gradNorm: 'grad_norm',
} as const;

export const newName = (name: string) => `new/${name}`;
export const stateName = (param: string, suffix: string) => `${param}.${suffix}`;

/** Per-step metrics, scan outputs of the Loop. */
export const METRICS = [STEP_IO.loss, STEP_IO.ce, STEP_IO.kd, STEP_IO.gradNorm] as const;

/** Names of the split models' own inputs and outputs (the manifest repeats them). */
export const SPLIT_IO = {
  gradScale: 'grad_scale',
  gradient: (param: string) => `grad/${param}`,
  param: 'param',
  grad: 'grad',
  state: (suffix: string) => `state.${suffix}`,
} as const;

/** The state tensor suffix of a train_update state name ('state.exp_avg' -> 'exp_avg'). */
export const stateSuffix = (name: string): string => name.slice(SPLIT_IO.state('').length);

export const MANIFEST_FORMAT = 1;

/** What the step models were built for (Manifest.target). */
export type BuildTarget = 'cpu' | 'gpu';
export const BUILD_TARGETS: readonly BuildTarget[] = ['cpu', 'gpu'];

/** The output of fetch_state.onnx / fetch_metrics.onnx for a parameter, state tensor or metric. */
export const fetchedName = (name: string) => `fetched/${name}`;

/** The prepared student inside an artifacts folder (its sidecar: student.distill.json). */
export const STUDENT_FILE = 'student.onnx';

/** The key of train_update's model for a parameter: its dtype, with '.no_decay' outside the decay group. */
export const updateModelKey = (dtype: string, decay: boolean): string => (decay ? dtype : `${dtype}.no_decay`);

/** A batch input: its padding value and whether axis 1 is a sequence axis padded when batches are stacked. */
export interface BatchInput {
  name: string;
  dtype: string;
  shape: (number | string)[];
  /** Value of padded positions (masked or ignored downstream). */
  pad: number;
  /** Axis padded to a common length when batches of different lengths are stacked; null if none. */
  sequence_axis: number | null;
}

export interface Hyperparameter {
  name: string;
  dtype: string;
  shape: (number | string)[];
  meaning: string;
}

export interface Manifest {
  format: number;
  task: Task;
  /** The student graph the artifacts train and export into (params/: one initializer per parameter), with its sidecar. */
  student: string;
  /** The ONNX file the user gave. */
  student_source: string;
  /** Where the parameter set came from: 'sidecar', 'hf-files' or 'heuristics' (docs/PARAMETERS.md). */
  parameter_source: string;
  /** What parameter discovery could not decide for sure, each with what to do about it. */
  warnings: string[];
  teacher: string | null;
  opset: number;
  /**
   * The execution providers the step models were built for: 'cpu' (any provider), or 'gpu' (build/gpu-ops.ts:
   * every per-step node in ops and types that GPU providers have kernels for, one step per call with the state
   * kept on the device; docs/WEBGPU.md). Absent in artifacts built before it existed: 'cpu'.
   */
  target?: BuildTarget;
  /**
   * `fetch_state` and `fetch_metrics` (gpu builds): models that copy every parameter and state tensor, and a
   * step's metrics, to their outputs: how a driver that keeps them in GPU buffers brings them to the host.
   */
  models: {
    train_step: string; train_loop: string; eval: string; train_grad: string; train_update: Record<string, string>;
    fetch_state?: string; fetch_metrics?: string;
  };
  initial_state: string;
  batch: BatchInput[];
  hyperparameters: Hyperparameter[];
  metrics: string[];
  /** `ioShape`: the shape the step models take and return the tensor in, where it is not `shape` (chunked). */
  parameters: { name: string; dtype: string; shape: number[]; ioShape?: number[]; output: string; decay: boolean }[];
  state: { name: string; param: string; dtype: string; shape: number[]; ioShape?: number[]; init: number; output: string }[];
  frozen: string[];
  /** Micro-batches per optimizer step; with more than 1, train_step.onnx takes `apply_update`. */
  accumulation_steps: number;
  /**
   * Whether train_step.onnx's new parameters and state may be written into the buffers of the inputs they
   * replace (build/in-place.ts), and what forbids it if not: for drivers that run the whole step in place
   * (low-memory mode runs the split step, whose update model is checked when it is built).
   */
  in_place: { safe: boolean; violations: string[] };
  optimizer: { name: string; settings: Record<string, number | boolean> };
  /**
   * The split step of low-memory mode: train_grad.onnx's outputs, and train_update's inputs and outputs
   * (one model per parameter dtype, `models.train_update`; every tensor input and output is a 1-D chunk).
   */
  split_step: {
    grad_scale: string;
    gradients: { param: string; output: string }[];
    update: { inputs: { param: string; grad: string; state: string[]; lr: string; step: string; grad_scale: string }; outputs: { param: string; state: string[] } };
  };
  loop: { stacked_axis: string; inputs: string[]; outputs: string[]; note: string };
}

type Check = (v: unknown) => boolean;
const isString: Check = (v) => typeof v === 'string';
const isNumber: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const isDims: Check = (v) => Array.isArray(v) && v.every((d) => Number.isInteger(d) && d >= 0);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a manifest's text (`file` names it in errors) for the fields the runtimes read, so that a damaged or
 * foreign manifest fails here with the field's name instead of deep inside a run.
 */
export function parseManifest(text: string, file: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new InputError(`${file}: not valid JSON; rebuild the artifacts with 'distill build'`);
  }
  const bad = (field: string, what: string) => new InputError(`${file}: field '${field}' ${what}; rebuild the artifacts with 'distill build'`);
  if (!isObject(m)) throw bad('(root)', 'is not an object');
  if (m.format !== MANIFEST_FORMAT) throw bad('format', `is ${JSON.stringify(m.format)}, this version reads ${MANIFEST_FORMAT}`);
  if (m.target !== undefined && !(BUILD_TARGETS as readonly unknown[]).includes(m.target)) throw bad('target', `is ${JSON.stringify(m.target)}, not one of ${BUILD_TARGETS.join(', ')}`);
  const models = m.models;
  if (!isObject(models)) throw bad('models', 'is missing');
  for (const k of ['train_step', 'train_loop', 'eval']) if (!isString(models[k])) throw bad(`models.${k}`, 'is not a file name');
  for (const k of ['fetch_state', 'fetch_metrics']) if (m.target === 'gpu' && !isString(models[k])) throw bad(`models.${k}`, 'is not a file name (gpu builds have one)');
  if (!isObject(models.train_update) || !Object.values(models.train_update).every(isString)) throw bad('models.train_update', 'is not a map of file names');
  if (!isString(m.initial_state)) throw bad('initial_state', 'is not a file name');
  const list = (field: string, fields: Record<string, Check>) => {
    const a = m[field];
    if (!Array.isArray(a)) throw bad(field, 'is not a list');
    a.forEach((e, i) => {
      if (!isObject(e)) throw bad(`${field}[${i}]`, 'is not an object');
      for (const [k, ok] of Object.entries(fields)) if (!ok(e[k])) throw bad(`${field}[${i}].${k}`, 'is missing or of the wrong type');
    });
  };
  list('parameters', { name: isString, dtype: isString, shape: isDims, output: isString });
  list('state', { name: isString, param: isString, dtype: isString, shape: isDims, init: isNumber, output: isString });
  list('batch', { name: isString, dtype: isString, shape: Array.isArray });
  list('hyperparameters', { name: isString, dtype: isString });
  if (!Array.isArray(m.metrics) || !m.metrics.every(isString)) throw bad('metrics', 'is not a list of names');
  if (!Number.isInteger(m.accumulation_steps) || (m.accumulation_steps as number) < 1) throw bad('accumulation_steps', 'is not a positive integer');
  return m as unknown as Manifest;
}
