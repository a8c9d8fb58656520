/** `distill train`: distill (or, without --teacher, fine-tune) a student ONNX model. */
import type { Argv } from 'yargs';
import { train, type TrainCallbacks } from '../train/trainer.js';
import { addOptions, readOptions } from './options.js';
import { stopGracefully } from './signals.js';

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
    onSave: (dir: string) => line(`saved ${dir}`),
    onLog: (e: Record<string, number>) => {
      const parts = Object.entries(e).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toPrecision(4)}`);
      line(parts.join('  '));
    },
    onProgress: (p: { step: number; totalSteps: number; epoch: number; loss: number; learningRate: number; samplesPerSecond: number }) => {
      if (!tty) return;
      const width = 24;
      const done = Math.round((width * p.step) / Math.max(1, p.totalSteps));
      const s = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${p.step}/${p.totalSteps}  epoch ${p.epoch.toFixed(2)}  loss ${p.loss.toPrecision(4)}  lr ${p.learningRate.toExponential(2)}  ${p.samplesPerSecond.toFixed(0)} samples/s`;
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
    (y) => addOptions(y, 'train'),
    async (a) => {
      const options = readOptions(a, 'train');
      const cb = consoleCallbacks();
      const stopOnSignal = stopGracefully(() => {
        cb.stopRequested = true;
        process.stderr.write('\nstopping after the current step; saving a checkpoint (Ctrl-C again to quit without saving)\n');
      });
      const r = await train(options, cb).finally(stopOnSignal.off);
      const lines = [
        `${r.interrupted ? 'interrupted' : 'done'}: ${r.globalStep} steps in ${r.trainRuntime.toFixed(1)} s (${r.trainSamplesPerSecond.toFixed(0)} samples/s), train loss ${r.trainLoss.toPrecision(4)}`,
      ];
      if (r.evalMetrics) lines.push(`eval: ${Object.entries(r.evalMetrics).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join('  ')}`);
      lines.push(r.interrupted ? `resume with --resume-from-checkpoint latest --output-dir ${r.outputDir}` : `trained student: ${r.outputDir}/model.onnx`);
      process.stdout.write(`${lines.join('\n')}\n`);
      if (r.interrupted) process.exitCode = 130;
    },
  );
}
