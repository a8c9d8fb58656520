/**
 * The output folder of a training run, as HF's Trainer treats it: a folder holding another run is refused
 * unless the user says to replace it (--overwrite-output-dir) or to continue it (--resume-from-checkpoint),
 * and the run's options are kept beside its results as training_args.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { hfName } from './options.js';

const CHECKPOINT = /^checkpoint-\d+/;
/** Files a run writes at the top of its folder that a new run would mix with its own. */
const RUN_FILES = ['trainer_state.json', 'train_results.json', 'eval_results.json'];

/** Throws an InputError when outDir already holds another run (checkpoint-* folders, trainer_state.json or model.onnx) unless overwrite or resuming; with overwrite removes the previous run's checkpoint-* folders, trainer_state.json, train_results.json, eval_results.json (never other files). */
export function checkOutputDir(outDir: string, o: { overwrite: boolean; resuming: boolean }): void {
  const stat = fs.statSync(outDir, { throwIfNoEntry: false });
  if (!stat) return;
  if (!stat.isDirectory()) throw new InputError(`${outDir}: is a file, not a folder; choose another --output-dir`);
  // Resuming reads the checkpoints, so nothing may go; the resumed run rewrites the rest itself.
  if (o.resuming) return;
  const entries = fs.readdirSync(outDir, { withFileTypes: true });
  // Also `checkpoint-8.tmp-<pid>`, a checkpoint write that a kill interrupted.
  const checkpoints = entries.filter((e) => e.isDirectory() && CHECKPOINT.test(e.name)).map((e) => e.name).sort(byStep);
  const present = (f: string) => entries.some((e) => e.name === f);
  const found = [...checkpoints, ...['trainer_state.json', 'model.onnx'].filter(present)];
  if (!o.overwrite) {
    if (!found.length) return;
    throw new InputError(
      `${outDir} already holds a training run (${found.join(', ')}); pass --overwrite-output-dir to replace it, or --resume-from-checkpoint latest to continue it`,
    );
  }
  // model.onnx, model.safetensors, config and tokenizer files are replaced when the new run ends; the
  // user's own files in the folder are not ours to delete.
  for (const c of checkpoints) fs.rmSync(path.join(outDir, c), { recursive: true, force: true });
  for (const f of RUN_FILES) fs.rmSync(path.join(outDir, f), { force: true });
}

function byStep(a: string, b: string): number {
  return parseInt(a.slice('checkpoint-'.length), 10) - parseInt(b.slice('checkpoint-'.length), 10) || a.localeCompare(b);
}

/** HF's `optim` values for ours (both are torch.optim's algorithms). */
const HF_OPTIM: Record<string, string> = { adamw: 'adamw_torch', sgd: 'sgd' };

/** Writes <outDir>/training_args.json: the run's options as HF TrainingArguments names where HF has one (learning_rate, per_device_train_batch_size, num_train_epochs, max_steps, warmup_steps, weight_decay, adam_beta1, adam_beta2, adam_epsilon, max_grad_norm, gradient_accumulation_steps, seed, lr_scheduler_type, logging_steps, eval_steps, save_steps, output_dir, ...) and our own names for the rest (temperature, alpha, teacher, student, ...). */
export function writeTrainingArgs(outDir: string, options: Record<string, unknown>): string {
  const args: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || typeof value === 'function') continue;
    // HF's name where HF has the option (options.ts), else ours in snake_case (teacherCache -> teacher_cache).
    const name = hfName(key) ?? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    args[name] = key === 'optimizer' && typeof value === 'string' ? (HF_OPTIM[value] ?? value) : value;
  }
  const file = path.join(outDir, 'training_args.json');
  writeFileAtomic(file, `${JSON.stringify(args, null, 2)}\n`);
  return file;
}
