/** `distill demo`: distillation vs fine-tuning on the bundled spam models, in a few minutes on a CPU. */
import type { Argv } from 'yargs';
import { type DemoResult, type DemoRow, type DemoRowKey, runDemo } from '../demo/run.js';
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../runtime/session.js';
import { formatBytes, formatCount } from '../util/format.js';
import { consoleCallbacks } from './train.js';

const pct = (x: number | undefined) => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);

export function renderDemo(r: DemoResult): string {
  const row = (key: DemoRowKey) => r.rows.find((x) => x.key === key);
  const [teacher, distAll, ceAll, distFew, ceFew, searched, quantized] = (['teacher', 'distilled-all', 'ce-all', 'distilled-few', 'ce-few', 'searched', 'int8'] as const).map(row);
  const width = Math.max(...r.rows.map((x) => x.name.length)) + 2;
  const head = `${'model'.padEnd(width)}${'accuracy'.padStart(9)}${'macro-F1'.padStart(10)}${'ms/batch'.padStart(10)}${'size'.padStart(10)}${'params'.padStart(10)}${'train s'.padStart(9)}`;
  const lines = [
    `SpamAssassin: ${formatCount(r.trainRows)} training e-mails, ${formatCount(r.evalRows)} held out; batch of 32, max 128 tokens; ms/batch: median over every eval batch run ${teacher!.report.latency.runs / teacher!.report.latency.batches} times`,
    '',
    head,
    '-'.repeat(head.length),
    ...r.rows.map((x) =>
      `${x.name.padEnd(width)}${pct(x.report.metrics.accuracy).padStart(9)}${pct(x.report.metrics.f1).padStart(10)}` +
      `${x.report.latency.p50Ms.toFixed(1).padStart(10)}${formatBytes(x.report.size.bytes).padStart(10)}` +
      `${formatCount(x.report.size.parameters).padStart(10)}${(x.trainSeconds === undefined ? '-' : x.trainSeconds.toFixed(0)).padStart(9)}`,
    ),
    '',
  ];
  const diff = (a: DemoRow | undefined, b: DemoRow | undefined) => (100 * ((a!.report.metrics.accuracy ?? 0) - (b!.report.metrics.accuracy ?? 0))).toFixed(1);
  lines.push(`distillation vs cross-entropy only: ${diff(distAll, ceAll)} accuracy points with all labels, ${diff(distFew, ceFew)} with ${formatCount(r.labeledRows)} labels`);
  if (searched) lines.push(`searched alpha/T vs the default (alpha 0.5, T 2): ${diff(searched, distAll)} accuracy points (trials: ${r.searchDir}/search_results.json)`);
  lines.push(
    `student vs teacher: ${(teacher!.report.size.bytes / distAll!.report.size.bytes).toFixed(1)}x smaller, ` +
      `${(teacher!.report.latency.p50Ms / distAll!.report.latency.p50Ms).toFixed(1)}x faster per batch (median); demo took ${r.seconds.toFixed(0)} s`,
  );
  if (quantized) {
    lines.push(
      `int8 vs fp32 distilled student: ${(distAll!.report.size.bytes / quantized.report.size.bytes).toFixed(1)}x smaller, ` +
        `${(distAll!.report.latency.p50Ms / quantized.report.latency.p50Ms).toFixed(2)}x faster per batch (median), ${diff(quantized, distAll)} accuracy points`,
    );
  }
  return lines.join('\n');
}

export function register(cli: Argv): Argv {
  return cli.command(
    'demo',
    'Distill the bundled spam-filter teacher into a small student and compare with plain fine-tuning',
    (y) =>
      y
        .option('output-dir', { type: 'string', default: 'demo-output', describe: 'where runs, checkpoints and results go' })
        .option('epochs', { type: 'number', default: 2 })
        .option('labeled-fraction', { type: 'number', default: 0.05, describe: 'labeled share of the training rows in the few-label runs' })
        .option('ep', { choices: EXECUTION_PROVIDERS as unknown as string[], default: 'cpu' })
        .option('threads', { type: 'number' })
        .option('max-steps', { type: 'number', describe: 'cap each run at N optimizer steps (a quick check; default: full epochs)' })
        .option('search-trials', { type: 'number', default: 4, describe: 'trials of the alpha/temperature search (0: none)' }),
    async (a) => {
      const cb = consoleCallbacks();
      const quiet = { ...cb, onLog: undefined, onSave: undefined, onStage: (s: string) => process.stderr.write(`${s}\n`) };
      const r = await runDemo({ outputDir: a['output-dir'], epochs: a.epochs, labeledFraction: a['labeled-fraction'], ep: a.ep as ExecutionProvider, threads: a.threads, maxSteps: a['max-steps'], searchTrials: a['search-trials'] }, quiet);
      process.stdout.write(`${renderDemo(r)}\nresults: ${a['output-dir']}/demo_results.json, plot: ${a['output-dir']}/benchmark.svg\n`);
    },
  );
}
