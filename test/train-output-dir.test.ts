/** The training run's output folder guard (checkOutputDir) and training_args.json (src/train/output-dir.ts). */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InputError } from '../src/errors.js';
import { TRAIN_DEFAULTS } from '../src/train/options.js';
import { checkOutputDir, writeTrainingArgs } from '../src/train/output-dir.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-model-folder-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const json = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, any>;

describe('checkOutputDir', () => {
  let dir = '';
  before(() => {
    dir = path.join(tmp, 'run');
  });
  /** A folder as a finished run leaves it, plus the user's own files. */
  const previousRun = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const c of ['checkpoint-4', 'checkpoint-8', 'artifacts']) fs.mkdirSync(path.join(dir, c), { recursive: true });
    fs.writeFileSync(path.join(dir, 'checkpoint-8', 'trainer_state.json'), '{}');
    for (const f of ['trainer_state.json', 'train_results.json', 'eval_results.json', 'model.onnx', 'model.safetensors', 'config.json', 'notes.txt', 'training_args.json']) {
      fs.writeFileSync(path.join(dir, f), 'x');
    }
  };
  const listing = () => fs.readdirSync(dir).sort();

  it('passes a missing, an empty or a foreign folder', () => {
    checkOutputDir(path.join(tmp, 'not-there'), { overwrite: false, resuming: false });
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty, { recursive: true });
    fs.writeFileSync(path.join(empty, 'README.md'), 'mine');
    checkOutputDir(empty, { overwrite: false, resuming: false });
    assert.deepEqual(fs.readdirSync(empty), ['README.md']);
  });

  it('refuses a previous run, naming what it found and both ways on', () => {
    previousRun();
    assert.throws(
      () => checkOutputDir(dir, { overwrite: false, resuming: false }),
      (e: Error) => e instanceof InputError && e.message === `${dir} already holds a training run (checkpoint-4, checkpoint-8, trainer_state.json, model.onnx); pass --overwrite-output-dir to replace it, or --resume-from-checkpoint latest to continue it`,
    );
    // A lone model.onnx is a run's result too.
    const lone = path.join(tmp, 'lone');
    fs.mkdirSync(lone, { recursive: true });
    fs.writeFileSync(path.join(lone, 'model.onnx'), 'x');
    assert.throws(() => checkOutputDir(lone, { overwrite: false, resuming: false }), /lone already holds a training run \(model\.onnx\)/);
    assert.throws(() => checkOutputDir(path.join(lone, 'model.onnx'), { overwrite: true, resuming: false }), /is a file, not a folder/);
  });

  it('resuming passes and removes nothing', () => {
    previousRun();
    const before = listing();
    checkOutputDir(dir, { overwrite: false, resuming: true });
    checkOutputDir(dir, { overwrite: true, resuming: true });
    assert.deepEqual(listing(), before);
  });

  it('overwrite removes only the checkpoints and the run files', () => {
    previousRun();
    checkOutputDir(dir, { overwrite: true, resuming: false });
    assert.deepEqual(listing(), ['artifacts', 'config.json', 'model.onnx', 'model.safetensors', 'notes.txt', 'training_args.json']);
  });
});

describe('writeTrainingArgs', () => {
  it("writes HF TrainingArguments names where HF has one, ours in snake_case otherwise; skips unset options", () => {
    const outDir = path.join(tmp, 'args');
    const file = writeTrainingArgs(outDir, {
      ...TRAIN_DEFAULTS, teacher: 'teacher.onnx', student: 'student.onnx', trainFile: 'train.jsonl', outputDir: outDir,
      evalSteps: 50, saveSteps: undefined, learningRate: 1e-4,
    });
    assert.equal(file, path.join(outDir, 'training_args.json'));
    const args = json(file);
    const hf = {
      learning_rate: 1e-4, per_device_train_batch_size: 32, num_train_epochs: 3, max_steps: -1, warmup_steps: 0, weight_decay: 0,
      adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, max_grad_norm: 1, gradient_accumulation_steps: 1, seed: 42,
      lr_scheduler_type: 'linear', logging_steps: 10, eval_steps: 50, output_dir: outDir, optim: 'adamw_torch',
    };
    for (const [k, v] of Object.entries(hf)) assert.deepEqual(args[k], v, k);
    const ours = { temperature: 2, alpha: 0.5, teacher: 'teacher.onnx', student: 'student.onnx', train_file: 'train.jsonl', max_length: 128, steps_per_call: 8, narrow_rows: true };
    for (const [k, v] of Object.entries(ours)) assert.deepEqual(args[k], v, k);
    assert.equal('save_steps' in args, false);
    assert.deepEqual(Object.keys(args).filter((k) => /[A-Z]/.test(k)), []);
  });
});
