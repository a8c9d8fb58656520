/**
 * Checkpoints: `checkpoint-<step>/` with the parameters and optimizer state (safetensors, ONNX names) and
 * `trainer_state.json` (HF's fields plus the data position and schedule needed to resume exactly).
 * A checkpoint is written to a temporary folder, sealed with a manifest of its files' sizes and checksums
 * (checkpoint-manifest.ts) and renamed into place, so a crash or kill -9 never leaves a half-written
 * checkpoint under a checkpoint's name, and damage done to one later is detected when it is read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import { floatArray, readSafetensors, type SafeTensor, writeSafetensors } from '../export/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import { withFsErrors } from '../util/fs-errors.js';
import { type RunIdentity, writeManifest } from './checkpoint-manifest.js';

export interface LogEntry {
  step: number;
  epoch: number;
  [key: string]: number;
}

/** HF's trainer_state.json fields, plus where to resume the data stream. */
export interface TrainerState {
  global_step: number;
  epoch: number;
  max_steps: number;
  num_train_epochs: number;
  log_history: LogEntry[];
  best_metric: number | null;
  best_model_checkpoint: string | null;
  /** Epoch being trained and micro-batches of it already consumed. */
  data_position: { epoch: number; batch: number };
  /** Evaluations without improvement (early stopping). */
  patience_used: number;
  seed: number;
  /**
   * The loss figures a resumed run needs to log and report what an uninterrupted run would: the open logging
   * window's per-micro-batch losses and per-step gradient norms, and the sum and count of every loss so far
   * (train_results.json's train_loss). Absent in checkpoints written before it existed.
   */
  running_loss?: RunningLoss;
}

export interface RunningLoss {
  window_losses: number[];
  window_grad_norms: number[];
  loss_sum: number;
  loss_count: number;
}

const STATE_FILE = 'state.safetensors';
const TRAINER_STATE = 'trainer_state.json';

function toSafe(t: ort.Tensor): SafeTensor {
  const data = t.data as Float32Array | Float64Array;
  return { dtype: t.type === 'float64' ? 'F64' : 'F32', shape: [...t.dims], bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function checkpointName(step: number): string {
  return `checkpoint-${step}`;
}

/** Temporary folders of checkpoint writes: `checkpoint-<step>.tmp-<pid>`. */
export const CHECKPOINT_TEMP = /^checkpoint-\d+\.tmp-\d+$/;

/**
 * Writes `<outputDir>/checkpoint-<step>` atomically, its manifest (with `run`, the settings a resume must
 * share) last, and returns its path. A failed write (a full disk) leaves no temporary folder behind.
 */
export function writeCheckpoint(outputDir: string, tensors: Map<string, ort.Tensor>, state: TrainerState, run: RunIdentity): string {
  const final = path.join(outputDir, checkpointName(state.global_step));
  const tmp = `${final}.tmp-${process.pid}`;
  try {
    withFsErrors(tmp, () => {
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.mkdirSync(tmp, { recursive: true });
    });
    writeSafetensors(path.join(tmp, STATE_FILE), new Map([...tensors].map(([k, v]) => [k, toSafe(v)])), { format: 'onnx-distill checkpoint' });
    writeFileAtomic(path.join(tmp, TRAINER_STATE), `${JSON.stringify(state, null, 2)}\n`);
    writeManifest(tmp, run);
    withFsErrors(final, () => {
      if (fs.existsSync(final)) fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
    });
  } catch (e) {
    try {
      fs.rmSync(tmp, { recursive: true, force: true });
    } catch {
      // A folder that refuses the write may refuse the removal too; the next run's start removes it.
    }
    throw e;
  }
  return final;
}

export interface LoadedCheckpoint {
  tensors: Map<string, ort.Tensor>;
  state: TrainerState;
}

export function readCheckpoint(dir: string): LoadedCheckpoint {
  const statePath = path.join(dir, TRAINER_STATE);
  if (!fs.existsSync(statePath)) throw new InputError(`${dir}: not a checkpoint (no ${TRAINER_STATE})`);
  let state: TrainerState;
  try {
    state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as TrainerState;
  } catch {
    throw new InputError(`${statePath}: not valid JSON`);
  }
  checkStateFields(statePath, state);
  const tensors = new Map<string, ort.Tensor>();
  for (const [name, t] of readSafetensors(path.join(dir, STATE_FILE))) {
    const data = floatArray(t);
    tensors.set(name, data instanceof Float64Array ? new ort.Tensor('float64', data, t.shape) : new ort.Tensor('float32', data, t.shape));
  }
  return { tensors, state };
}

const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

/** A readable one-line error for a trainer_state.json whose fields a resume cannot use. */
function checkStateFields(file: string, s: TrainerState): void {
  const bad = (field: string, want: string) => new InputError(`${file}: '${field}' must be ${want}; the checkpoint is damaged, resume from another one`);
  if (typeof s !== 'object' || s === null) throw bad('(top level)', 'an object');
  if (!isCount(s.global_step)) throw bad('global_step', 'a whole number >= 0');
  if (!isCount(s.data_position?.epoch) || !isCount(s.data_position?.batch)) throw bad('data_position', '{ epoch, batch } of whole numbers >= 0');
  if (!Array.isArray(s.log_history)) throw bad('log_history', 'an array');
  if (typeof s.seed !== 'number') throw bad('seed', 'a number');
  if (!isCount(s.patience_used)) throw bad('patience_used', 'a whole number >= 0');
  const r = s.running_loss;
  if (r !== undefined && !(Array.isArray(r.window_losses) && Array.isArray(r.window_grad_norms) && typeof r.loss_sum === 'number' && isCount(r.loss_count))) {
    throw bad('running_loss', '{ window_losses, window_grad_norms, loss_sum, loss_count }');
  }
}

/** Steps of the `checkpoint-<step>` folders in `outputDir`, newest first (temporary folders are not among them). */
export function checkpointSteps(outputDir: string): number[] {
  if (!fs.existsSync(outputDir)) return [];
  return fs.readdirSync(outputDir)
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
}
