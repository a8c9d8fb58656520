/**
 * Checkpoints: `checkpoint-<step>/` with the parameters and optimizer state (safetensors, ONNX names) and
 * `trainer_state.json` (HF's fields plus the data position and schedule needed to resume exactly).
 * A checkpoint is written to a temporary folder and renamed into place, so a crash or kill -9 never
 * leaves a half-written checkpoint behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import { floatArray, readSafetensors, type SafeTensor, writeSafetensors } from '../export/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';

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

/** Writes `<outputDir>/checkpoint-<step>` atomically and returns its path. */
export function writeCheckpoint(
  outputDir: string,
  tensors: Map<string, ort.Tensor>,
  state: TrainerState,
): string {
  const final = path.join(outputDir, checkpointName(state.global_step));
  const tmp = `${final}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  writeSafetensors(path.join(tmp, STATE_FILE), new Map([...tensors].map(([k, v]) => [k, toSafe(v)])), { format: 'onnx-distill checkpoint' });
  writeFileAtomic(path.join(tmp, TRAINER_STATE), `${JSON.stringify(state, null, 2)}\n`);
  if (fs.existsSync(final)) fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
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
  const tensors = new Map<string, ort.Tensor>();
  for (const [name, t] of readSafetensors(path.join(dir, STATE_FILE))) {
    const data = floatArray(t);
    tensors.set(name, data instanceof Float64Array ? new ort.Tensor('float64', data, t.shape) : new ort.Tensor('float32', data, t.shape));
  }
  return { tensors, state };
}

/** The newest complete checkpoint in `outputDir` (temporary folders of interrupted writes are ignored). */
export function latestCheckpoint(outputDir: string): string | undefined {
  if (!fs.existsSync(outputDir)) return undefined;
  const steps = fs.readdirSync(outputDir)
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && fs.existsSync(path.join(outputDir, m[0], TRAINER_STATE)))
    .map((m) => Number(m[1]));
  return steps.length ? path.join(outputDir, checkpointName(Math.max(...steps))) : undefined;
}
