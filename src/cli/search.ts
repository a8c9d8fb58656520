/** `distill search`: hyperparameter search over alpha, temperature, learning rate and epochs (src/search/). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { DistillError, InputError } from '../errors.js';
import { parseSpace } from '../search/space.js';
import { type BaseTrainOptions, type SearchOutcome, type SearchResults, type Trial, RESULTS_FILE, search } from '../search/search.js';
import { addOptions, readOptions } from './options.js';
import { stopGracefully } from './signals.js';
import { consoleCallbacks } from './train.js';

const fmt = (v: number) => (Math.abs(v) < 1e-2 && v !== 0 ? v.toExponential(2) : Number.isInteger(v) ? String(v) : v.toFixed(3));

/** One row of the trial table (the header comes from trialHeader). */
export function trialRow(t: Trial, r: SearchResults): string {
  const params = r.space.map((p) => fmt(t.params[p.name]!).padStart(Math.max(10, p.name.length)));
  const value = t.value === null ? '-' : t.value.toFixed(4);
  const best = r.best_trial === t.number ? '  *' : '';
  return `${String(t.number).padStart(5)}  ${t.state.padEnd(8)}  ${params.join('  ')}  ${value.padStart(10)}  ${t.seconds.toFixed(0).padStart(6)}${best}${t.error ? `  (${firstLine(t.error)})` : ''}`;
}

/** A table row and the final error are one line each; ORT's messages can have several (search_results.json keeps them whole). */
const firstLine = (s: string) => s.split('\n')[0]!.trim();

/**
 * The error a search ends with when no trial completed and some failed (none stopped it): the first failure,
 * with the exit code of its kind (2 for the user's input, else 1). Null when a trial completed.
 */
export function allFailedError(r: SearchResults, resultsFile: string): DistillError | null {
  if (r.trials.some((t) => t.state === 'complete')) return null;
  const first = r.trials.find((t) => t.state === 'failed');
  if (!first) return null;
  const failed = r.trials.filter((t) => t.state === 'failed').length;
  const message = `no trial completed (${failed} of ${r.trials.length} failed); trial ${first.number}: ${firstLine(first.error ?? 'unknown error')} (every trial's error: ${resultsFile})`;
  return first.inputError ? new InputError(message) : new DistillError(message, 1);
}

/** The closing lines: counts, the best trial and where its model is (only a folder that exists), how to resume. */
export function summaryLines(r: SearchOutcome, dir: string): string[] {
  const counts = (s: string) => r.trials.filter((t) => t.state === s).length;
  const interrupted = counts('interrupted');
  const lines = [
    `${r.trials.length - interrupted} trials: ${counts('complete')} complete, ${counts('pruned')} pruned, ${counts('failed')} failed; results: ${dir}/${RESULTS_FILE}`,
  ];
  const best = r.best_trial === null ? null : r.trials[r.best_trial]!;
  if (best) {
    // A stopped search copies nothing to best/ (an older best/ may be there from before): the trial's own folder.
    const model = r.stopped ? best.outputDir : path.join(dir, 'best');
    const params = r.space.map((p) => `${p.name} ${fmt(best.params[p.name]!)}`).join(', ');
    const where = fs.existsSync(model) ? `; model: ${model}/` : '';
    lines.push(`${r.stopped ? 'best so far' : 'best'}: trial ${best.number}, ${r.metric} ${best.value!.toFixed(4)}, ${params}${where}`);
  } else if (!r.stopped) lines.push('no trial completed');
  if (r.stopped) {
    const which = r.trials.filter((t) => t.state === 'interrupted').map((t) => `trial ${t.number}`);
    lines.push(`interrupted${which.length ? ` (${which.join(', ')} runs again on resume)` : ''}: resume with the same command (same --search, --seed and --output-dir ${dir})`);
  }
  return lines;
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
      // As train: SIGINT, SIGTERM and SIGHUP stop the trial after its current ORT call and end the search
      // with exit 130; a second signal quits at once (signals.ts).
      const stopOnSignal = stopGracefully(() => {
        cb.stopRequested = true;
        process.stderr.write('\nstopping the search after the current step; run the same command again to resume (Ctrl-C again to quit now)\n');
      });
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
      ).finally(stopOnSignal.off);
      const dir = base.outputDir;
      const failure = r.stopped ? null : allFailedError(r, path.join(dir, RESULTS_FILE));
      // With every trial failed, the reason is the error line (stderr), not a 'no trial completed' on stdout.
      const lines = summaryLines(r, dir).filter((l) => !(failure && l === 'no trial completed'));
      process.stdout.write(`${lines.join('\n')}\n`);
      if (failure) throw failure;
      if (r.stopped) process.exitCode = 130;
    },
  );
}
