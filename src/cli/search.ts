/** `distill search`: hyperparameter search over alpha, temperature, learning rate and epochs (src/search/). */
import type { Argv } from 'yargs';
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../runtime/session.js';
import { parseSpace } from '../search/space.js';
import { type SearchResults, type Trial, RESULTS_FILE, search } from '../search/search.js';
import { TRAIN_DEFAULTS as D } from '../train/options.js';
import { consoleCallbacks } from './train.js';

const fmt = (v: number) => (Math.abs(v) < 1e-2 && v !== 0 ? v.toExponential(2) : Number.isInteger(v) ? String(v) : v.toFixed(3));

/** One row of the trial table (the header comes from trialHeader). */
export function trialRow(t: Trial, r: SearchResults): string {
  const params = r.space.map((p) => fmt(t.params[p.name]!).padStart(Math.max(10, p.name.length)));
  const value = t.value === null ? '-' : t.value.toFixed(4);
  const best = r.best_trial === t.number ? '  *' : '';
  return `${String(t.number).padStart(5)}  ${t.state.padEnd(8)}  ${params.join('  ')}  ${value.padStart(10)}  ${t.seconds.toFixed(0).padStart(6)}${best}${t.error ? `  (${t.error})` : ''}`;
}

export function trialHeader(r: SearchResults): string {
  return `trial  state     ${r.space.map((p) => p.name.padStart(Math.max(10, p.name.length))).join('  ')}  ${(r.metric || 'metric').padStart(10)}  ${'s'.padStart(6)}`;
}

export function register(cli: Argv): Argv {
  return cli.command(
    'search',
    'Search distillation hyperparameters (TPE sampler, median pruning; the teacher\'s logits computed once)',
    (y) =>
      y
        .option('search', { type: 'string', array: true, demandOption: true, describe: 'NAME=LOW:HIGH[:log|:int] for alpha, temperature, learning-rate, epochs; repeat' })
        .option('trials', { type: 'number', default: 20 })
        .option('startup-trials', { type: 'number', default: 10, describe: 'random trials before TPE (Optuna\'s default)' })
        .option('prune', { type: 'boolean', default: true, describe: '--no-prune: run every trial to the end' })
        .option('prune-startup-trials', { type: 'number', default: 5, describe: 'completed trials before median pruning starts' })
        .option('teacher', { type: 'string', demandOption: true, describe: 'teacher ONNX' })
        .option('student', { type: 'string', demandOption: true, describe: 'student ONNX' })
        .option('train-file', { type: 'string', demandOption: true })
        .option('eval-file', { type: 'string', demandOption: true, describe: 'evaluation data: ranks and prunes the trials' })
        .option('alpha', { type: 'number', default: D.alpha, describe: 'when not searched' })
        .option('temperature', { type: 'number', default: D.temperature, describe: 'when not searched' })
        .option('learning-rate', { type: 'number', default: D.learningRate, describe: 'when not searched' })
        .option('epochs', { type: 'number', default: D.epochs, describe: 'when not searched' })
        .option('batch-size', { type: 'number', default: D.batchSize })
        .option('max-length', { type: 'number', default: D.maxLength })
        .option('eval-steps', { type: 'number', describe: 'evaluate (and maybe prune) every N steps as well as at each epoch end' })
        .option('seed', { type: 'number', default: D.seed })
        .option('teacher-cache', { type: 'string', describe: "teacher-logit cache shared by the trials (default: OUTPUT_DIR/teacher-cache)" })
        .option('ep', { choices: EXECUTION_PROVIDERS as unknown as string[], default: D.ep })
        .option('threads', { type: 'number' })
        .option('output-dir', { type: 'string', demandOption: true, describe: `trial-N/ folders, ${RESULTS_FILE}, best/ (run again to resume)` }),
    async (a) => {
      const space = parseSpace(a.search as string[]);
      const cb = consoleCallbacks();
      let headerShown = false;
      const onSignal = () => {
        if (cb.stopRequested) process.exit(130);
        cb.stopRequested = true;
        process.stderr.write(`\nstopping the search; run the same command again to resume (Ctrl-C again to quit now)\n`);
      };
      process.on('SIGINT', onSignal);
      const r = await search(
        {
          base: {
            teacher: a.teacher, student: a.student, trainFile: a['train-file'], evalFile: a['eval-file'], alpha: a.alpha, temperature: a.temperature,
            learningRate: a['learning-rate'], epochs: a.epochs, batchSize: a['batch-size'], maxLength: a['max-length'], evalSteps: a['eval-steps'],
            seed: a.seed, teacherCache: a['teacher-cache'], ep: a.ep as ExecutionProvider, threads: a.threads, outputDir: a['output-dir'], loggingSteps: 1e9,
          },
          space, trials: a.trials, seed: a.seed, startupTrials: a['startup-trials'], pruning: a.prune ? { startupTrials: a['prune-startup-trials'] } : false,
        },
        {
          train: { onProgress: cb.onProgress },
          shouldStop: () => cb.stopRequested,
          onTrial(t, res) {
            if (!headerShown) process.stdout.write(`${trialHeader(res)}\n`);
            headerShown = true;
            process.stdout.write(`${trialRow(t, res)}\n`);
          },
        },
      );
      process.off('SIGINT', onSignal);
      const best = r.best_trial === null ? null : r.trials[r.best_trial]!;
      const counts = (s: string) => r.trials.filter((t) => t.state === s).length;
      process.stdout.write(
        `${r.trials.length} trials: ${counts('complete')} complete, ${counts('pruned')} pruned, ${counts('failed')} failed; results: ${a['output-dir']}/${RESULTS_FILE}\n` +
          (best ? `best: trial ${best.number}, ${r.metric} ${best.value!.toFixed(4)}, ${r.space.map((p) => `${p.name} ${fmt(best.params[p.name]!)}`).join(', ')}; model: ${a['output-dir']}/best/\n` : 'no trial completed\n'),
      );
    },
  );
}
