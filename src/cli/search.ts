/** `distill search`: hyperparameter search over alpha, temperature, learning rate and epochs (src/search/). */
import type { Argv } from 'yargs';
import { parseSpace } from '../search/space.js';
import { type BaseTrainOptions, type SearchResults, type Trial, RESULTS_FILE, search } from '../search/search.js';
import { addOptions, readOptions } from './options.js';
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
      addOptions(y, 'search')
        .option('search', { type: 'string', array: true, demandOption: true, describe: 'NAME=LOW:HIGH[:log|:int] for alpha, temperature, learning-rate, epochs; repeat' })
        .option('trials', { type: 'number', default: 20 })
        .option('startup-trials', { type: 'number', default: 10, describe: 'random trials before TPE (Optuna\'s default)' })
        .option('prune', { type: 'boolean', default: true, describe: '--no-prune: run every trial to the end' })
        .option('prune-startup-trials', { type: 'number', default: 5, describe: 'completed trials before median pruning starts' }),
    async (a) => {
      const space = parseSpace(a.search as string[]);
      // Every train option applies to each trial; the searched ones are set per trial. Trials log no losses.
      const base: BaseTrainOptions = { ...(readOptions(a, 'search') as BaseTrainOptions), loggingSteps: 1e9 };
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
          base,
          space, trials: a.trials, seed: base.seed, startupTrials: a['startup-trials'], pruning: a.prune ? { startupTrials: a['prune-startup-trials'] } : false,
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
