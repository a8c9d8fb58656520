/** `distill train`: distill (or, without --teacher, fine-tune) a student ONNX model. */
import type { Argv } from 'yargs';
import { InputError } from '../errors.js';
import { TASKS } from '../losses/distill.js';
import { EXECUTION_PROVIDERS } from '../runtime/session.js';
import { SCHEDULES } from '../train/schedule.js';
import { TRAIN_DEFAULTS, type TrainOptions } from '../train/options.js';
import { train, type TrainCallbacks } from '../train/trainer.js';
import { stopGracefully } from './signals.js';

const D = TRAIN_DEFAULTS;

/** Progress on a TTY: one line redrawn in place; otherwise plain log lines. */
export function consoleCallbacks(stream: NodeJS.WriteStream = process.stderr): TrainCallbacks & { stopRequested: boolean } {
  const tty = stream.isTTY === true;
  let lastLength = 0;
  const line = (s: string) => {
    if (tty && lastLength) stream.write(`\r${' '.repeat(lastLength)}\r`);
    lastLength = 0;
    stream.write(`${s}\n`);
  };
  const cb = {
    stopRequested: false,
    onInfo: (m: string) => line(m),
    onSave: (dir: string) => {
      line(`saved ${dir}`);
      // Crash-test hook (test/train.test.ts): a real SIGKILL right after a given checkpoint is on disk.
      const killAt = process.env.DISTILL_TEST_SIGKILL_AFTER_CHECKPOINT;
      if (killAt && dir.endsWith(`checkpoint-${killAt}`)) process.kill(process.pid, 'SIGKILL');
    },
    onLog: (e: Record<string, number>) => {
      const parts = Object.entries(e).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toPrecision(4)}`);
      line(parts.join('  '));
    },
    onProgress: (p: { step: number; totalSteps: number; epoch: number; loss: number; learningRate: number; samplesPerSecond: number }) => {
      if (!tty) return;
      const width = 24;
      const done = Math.round((width * p.step) / Math.max(1, p.totalSteps));
      const s = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${p.step}/${p.totalSteps}  epoch ${p.epoch.toFixed(2)}  loss ${p.loss.toFixed(4)}  lr ${p.learningRate.toExponential(2)}  ${p.samplesPerSecond.toFixed(0)} samples/s`;
      stream.write(`\r${s}${' '.repeat(Math.max(0, lastLength - s.length))}`);
      lastLength = s.length;
    },
    shouldStop: () => cb.stopRequested,
  };
  return cb;
}

export function register(cli: Argv): Argv {
  return cli.command(
    'train',
    'Distill a teacher into a student (or fine-tune without --teacher) on JSONL/CSV data',
    (y) =>
      y
        .option('teacher', { type: 'string', describe: 'teacher ONNX (omit for plain fine-tuning)' })
        .option('student', { type: 'string', demandOption: true, describe: 'student ONNX (its folder may hold config.json, model.safetensors, tokenizer.json, distill.json)' })
        .option('hf-model', { type: 'string', describe: "Hugging Face folder of the student (config.json, model.safetensors, tokenizer): which initializers are PyTorch's parameters and their names (default: the student's folder; docs/PARAMETERS.md)" })
        .option('trainable', { type: 'string', array: true, default: [], describe: 'initializer globs to train although they look like constants (scalars, masks)' })
        .option('train-file', { type: 'string', demandOption: true, describe: 'training data: .jsonl or .csv' })
        .option('eval-file', { type: 'string', describe: 'evaluation data' })
        .option('tokenizer', { type: 'string', describe: "tokenizer.json (default: the student's folder)" })
        .option('task', { choices: TASKS as unknown as string[], describe: "default: config.json's architectures or the student's distill.json" })
        .option('text-field', { type: 'string', default: 'text' })
        .option('text-pair-field', { type: 'string' })
        .option('label-field', { type: 'string', describe: "default 'label' (token-cls: 'labels')" })
        .option('labels', { type: 'string', array: true, describe: "label names in id order (default: config.json's or the sidecar's id2label; integer labels need none)" })
        .option('temperature', { type: 'number', default: D.temperature })
        .option('alpha', { type: 'number', default: D.alpha, describe: 'weight of the cross-entropy term' })
        .option('optimizer', { choices: ['adamw', 'sgd'], default: D.optimizer })
        .option('learning-rate', { type: 'number', default: D.learningRate })
        .option('momentum', { type: 'number', default: D.momentum })
        .option('weight-decay', { type: 'number', default: D.weightDecay, describe: "AdamW's decoupled decay / SGD's L2 term; as HF's Trainer, not applied to biases and normalization weights" })
        .option('adam-beta1', { type: 'number', default: D.adamBeta1 })
        .option('adam-beta2', { type: 'number', default: D.adamBeta2 })
        .option('adam-epsilon', { type: 'number', default: D.adamEpsilon })
        .option('max-grad-norm', { type: 'number', default: D.maxGradNorm })
        .option('lr-scheduler', { choices: SCHEDULES as unknown as string[], default: D.lrScheduler })
        .option('warmup-steps', { type: 'number', default: D.warmupSteps })
        .option('batch-size', { type: 'number', default: D.batchSize })
        .option('gradient-accumulation-steps', { type: 'number', default: D.gradientAccumulationSteps })
        .option('epochs', { type: 'number', default: D.epochs })
        .option('max-steps', { type: 'number', default: D.maxSteps, describe: '> 0 overrides --epochs' })
        .option('max-length', { type: 'number', default: D.maxLength })
        .option('seed', { type: 'number', default: D.seed })
        .option('shuffle', { type: 'boolean', default: true, describe: '--no-shuffle: batches in file order' })
        .option('eval-steps', { type: 'number', describe: 'evaluate every N steps (also at each epoch end)' })
        .option('save-steps', { type: 'number', describe: 'checkpoint every N steps (also at the end)' })
        .option('save-total-limit', { type: 'number', describe: 'keep at most N checkpoints, deleting the oldest (never the newest or the best)' })
        .option('logging-steps', { type: 'number', default: D.loggingSteps })
        .option('teacher-cache', { type: 'string', describe: "cache the teacher's logits in DIR" })
        .option('streaming', { type: 'boolean', describe: 'read the training file anew each epoch instead of holding it in memory (default: files over 512 MB)' })
        .option('freeze', { type: 'string', array: true, default: [], describe: 'parameter name globs to keep frozen' })
        .option('ep', { choices: EXECUTION_PROVIDERS as unknown as string[], default: D.ep })
        .option('threads', { type: 'number', describe: 'ONNX Runtime intra-op threads (default: all cores)' })
        .option('steps-per-call', { type: 'number', default: D.stepsPerCall, describe: 'optimizer steps per ONNX Runtime call' })
        .option('low-memory', { type: 'boolean', default: D.lowMemory, describe: 'run each step as a gradient call and in-place chunked updates: less memory, slower steps (docs/TRAINING.md)' })
        .option('narrow-rows', { type: 'boolean', default: D.narrowRows, describe: "compute only the rows of the last layer the logits read (a classifier's [CLS] position); --no-narrow-rows builds it whole" })
        .option('early-stopping-patience', { type: 'number' })
        .option('resume-from-checkpoint', { type: 'string', describe: "checkpoint folder, or 'latest' in --output-dir" })
        .option('output-dir', { type: 'string', demandOption: true })
        .option('overwrite-output-dir', { type: 'boolean', default: false, describe: "replace another run's checkpoints and results in --output-dir" }),
    async (a) => {
      const options: Partial<TrainOptions> & Pick<TrainOptions, 'student' | 'trainFile' | 'outputDir'> = {
        teacher: a.teacher, student: a.student, trainFile: a['train-file'], evalFile: a['eval-file'], tokenizer: a.tokenizer,
        task: a.task as TrainOptions['task'], textField: a['text-field'], textPairField: a['text-pair-field'], labelField: a['label-field'],
        labels: a.labels?.flatMap((l) => String(l).split(',')), temperature: a.temperature, alpha: a.alpha,
        optimizer: a.optimizer as TrainOptions['optimizer'], learningRate: a['learning-rate'], momentum: a.momentum,
        adamBeta1: a['adam-beta1'], adamBeta2: a['adam-beta2'], adamEpsilon: a['adam-epsilon'], hfModel: a['hf-model'], trainable: a.trainable as string[],
        weightDecay: a['weight-decay'], maxGradNorm: a['max-grad-norm'], lrScheduler: a['lr-scheduler'] as TrainOptions['lrScheduler'],
        warmupSteps: a['warmup-steps'], batchSize: a['batch-size'], gradientAccumulationSteps: a['gradient-accumulation-steps'],
        epochs: a.epochs, maxSteps: a['max-steps'], maxLength: a['max-length'], seed: a.seed, shuffle: a.shuffle,
        evalSteps: a['eval-steps'], saveSteps: a['save-steps'], saveTotalLimit: a['save-total-limit'], loggingSteps: a['logging-steps'], teacherCache: a['teacher-cache'], streaming: a.streaming,
        freeze: a.freeze as string[], ep: a.ep as TrainOptions['ep'], threads: a.threads, stepsPerCall: a['steps-per-call'], lowMemory: a['low-memory'], narrowRows: a['narrow-rows'],
        earlyStoppingPatience: a['early-stopping-patience'], resumeFromCheckpoint: a['resume-from-checkpoint'], outputDir: a['output-dir'], overwriteOutputDir: a['overwrite-output-dir'],
      };
      if (options.saveTotalLimit !== undefined && !(Number.isInteger(options.saveTotalLimit) && options.saveTotalLimit >= 1)) {
        throw new InputError(`--save-total-limit must be a whole number >= 1, got ${options.saveTotalLimit}`);
      }
      const cb = consoleCallbacks();
      const stopOnSignal = stopGracefully(() => {
        cb.stopRequested = true;
        process.stderr.write('\nstopping after the current step; saving a checkpoint (Ctrl-C again to quit without saving)\n');
      });
      const r = await train(options, cb).finally(stopOnSignal.off);
      const lines = [
        `${r.interrupted ? 'interrupted' : 'done'}: ${r.globalStep} steps in ${r.trainRuntime.toFixed(1)} s (${r.trainSamplesPerSecond.toFixed(0)} samples/s), train loss ${r.trainLoss.toFixed(4)}`,
      ];
      if (r.evalMetrics) lines.push(`eval: ${Object.entries(r.evalMetrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ')}`);
      lines.push(r.interrupted ? `resume with --resume-from-checkpoint latest --output-dir ${r.outputDir}` : `trained student: ${r.outputDir}/model.onnx`);
      process.stdout.write(`${lines.join('\n')}\n`);
      if (r.interrupted) process.exitCode = 130;
    },
  );
}
