/**
 * `search()`: hyperparameter search over train()'s alpha, temperature, learning rate and epochs, beside
 * `train()` in the library API. Trials run one after another in `<outputDir>/trial-N/`; parameters come
 * from the TPE sampler (src/search/tpe.ts), and a trial whose evaluation falls below the median of the
 * completed trials at the same step is stopped (src/search/pruner.ts) through train()'s shouldStop.
 *
 * Every trial shares one teacher-logit cache (`teacherCache`, default `<outputDir>/teacher-cache`): the
 * teacher runs over the training data once, in the first trial's first epoch, and never again.
 *
 * `<outputDir>/search_results.json` is rewritten after each trial (parameters, metric, state
 * complete/pruned/failed/interrupted, intermediate values); a search started again on the same folder with
 * the same space and seed resumes after the last finished trial, and runs an interrupted one again. The best
 * completed trial's model folder is copied to `<outputDir>/best/` when the search ends without being stopped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DistillError, InputError } from '../errors.js';
import type { TrainOptions } from '../train/options.js';
import { type TrainCallbacks, train } from '../train/trainer.js';
import { writeFileAtomic } from '../util/fs.js';
import { shouldPrune } from './pruner.js';
import { type ParamRange, SEARCHABLE } from './space.js';
import { type Observation, TpeSampler } from './tpe.js';

/** 'interrupted': stopped by the caller (Ctrl-C); not a result, so a resumed search runs it again. */
export type TrialState = 'complete' | 'pruned' | 'failed' | 'interrupted';

export interface Trial {
  number: number;
  params: Record<string, number>;
  state: TrialState;
  /** The final (complete) or last intermediate (pruned) value of the metric; null for failed trials. */
  value: number | null;
  /** Metric by optimizer step, at each evaluation. */
  intermediate: Record<number, number>;
  seconds: number;
  outputDir: string;
  error?: string;
  /** The failure was an InputError (the user's to fix: data, options, files), not a fault in the run. */
  inputError?: boolean;
}

export interface SearchResults {
  metric: string;
  direction: 'maximize' | 'minimize';
  seed: number;
  space: ParamRange[];
  trials: Trial[];
  best_trial: number | null;
}

export type BaseTrainOptions = Partial<TrainOptions> & Pick<TrainOptions, 'student' | 'trainFile' | 'outputDir'>;

export interface SearchOptions {
  /** train()'s options; outputDir is the search's folder. evalFile is required (the metric). */
  base: BaseTrainOptions;
  space: ParamRange[];
  trials: number;
  seed?: number;
  /** Random trials before TPE takes over (default 10, Optuna's). */
  startupTrials?: number;
  /** Completed trials before pruning starts (default 5, Optuna's MedianPruner); false turns pruning off. */
  pruning?: { startupTrials?: number } | false;
}

export interface SearchCallbacks {
  /** Called when a trial finishes, with every trial so far. */
  onTrial?(trial: Trial, results: SearchResults): void;
  /** Passed to each trial's train() (progress, logs). */
  train?: TrainCallbacks;
  /** Polled between ORT calls and trials: true stops the current trial (recorded as interrupted) and the search. */
  shouldStop?(): boolean;
}

/** What search() returns: the results as saved, and whether shouldStop ended the search early. */
export interface SearchOutcome extends SearchResults {
  /** True when the search was stopped: trials are left to run, and best/ was not (re)written. */
  stopped: boolean;
}

export const RESULTS_FILE = 'search_results.json';

/** The finished trials of an earlier run of this search, and its metric. */
function readPrevious(file: string, o: SearchOptions, seed: number): Pick<SearchResults, 'metric' | 'direction' | 'trials'> {
  if (!fs.existsSync(file)) return { metric: '', direction: 'maximize', trials: [] };
  let prev: SearchResults;
  try {
    prev = JSON.parse(fs.readFileSync(file, 'utf8')) as SearchResults;
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message}); delete it to start a new search`);
  }
  if (prev.seed !== seed || JSON.stringify(prev.space) !== JSON.stringify(o.space)) {
    throw new InputError(`${file}: an earlier search with another space or seed; resume with the same --search/--seed, or use another --output-dir`);
  }
  // An interrupted trial is run again (results of earlier versions marked it as failed with this error).
  return { metric: prev.metric, direction: prev.direction, trials: prev.trials.filter((t) => t.state !== 'interrupted' && t.error !== 'interrupted') };
}

export async function search(o: SearchOptions, cb: SearchCallbacks = {}): Promise<SearchOutcome> {
  const seed = o.seed ?? o.base.seed ?? 42;
  if (!o.base.evalFile) throw new InputError('distill search needs --eval-file: the metric that ranks and prunes trials comes from it');
  if (!Number.isInteger(o.trials) || o.trials < 1) throw new InputError(`--trials must be an integer >= 1, got ${o.trials}`);
  const dir = o.base.outputDir;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, RESULTS_FILE);
  // Which metric train() reports depends on the task; the first evaluation tells (eval_accuracy,
  // eval_token_accuracy, eval_perplexity), or the earlier run being resumed.
  const prev = readPrevious(file, o, seed);
  const trials = prev.trials;
  const results: SearchResults = { metric: prev.metric, direction: prev.direction, seed, space: o.space, trials, best_trial: null };
  const sampler = new TpeSampler(o.space, { seed, startupTrials: o.startupTrials });
  const run: SearchRun = { o, cb, results, teacherCache: o.base.teacherCache ?? path.join(dir, 'teacher-cache'), stopped: false };

  // A stop asked for between trials (while the last one's results were written) starts no other.
  for (let n = trials.length; n < o.trials && !stopAsked(run); n++) {
    const history: Observation[] = trials
      .filter((t) => (t.state === 'complete' || t.state === 'pruned') && t.value !== null)
      .map((t) => ({ params: t.params, value: sign(results) * t.value!, pruned: t.state === 'pruned' }));
    const trial = await runTrial(run, n, sampler.sample(n, history));
    trials.push(trial);
    results.best_trial = bestTrial(trials, sign(results));
    writeFileAtomic(file, `${JSON.stringify(results, null, 2)}\n`);
    if (trial.state !== 'interrupted') cb.onTrial?.(trial, results);
  }
  results.best_trial = bestTrial(trials, sign(results));
  if (results.best_trial !== null && !run.stopped) copyBest(trials[results.best_trial]!.outputDir, path.join(dir, 'best'));
  writeFileAtomic(file, `${JSON.stringify(results, null, 2)}\n`);
  return { ...results, stopped: run.stopped };
}

/** Whether the caller asked to stop (polled once more here, so a request between trials counts). */
function stopAsked(run: SearchRun): boolean {
  if (run.cb.shouldStop?.()) run.stopped = true;
  return run.stopped;
}

/** What the trials of one search share. */
interface SearchRun {
  o: SearchOptions;
  cb: SearchCallbacks;
  results: SearchResults;
  teacherCache: string;
  /** The caller asked to stop: the current trial is recorded as interrupted and no other starts. */
  stopped: boolean;
}

/** +1 when the metric is maximized, -1 when minimized: signed values are always "higher is better". */
const sign = (r: SearchResults) => (r.direction === 'maximize' ? 1 : -1);

/** One train() run with `params`, stopped early when the pruner says so; its state, value and curve. */
async function runTrial(run: SearchRun, n: number, params: Record<string, number>): Promise<Trial> {
  const { o, cb, results } = run;
  const trial: Trial = { number: n, params, state: 'complete', value: null, intermediate: {}, seconds: 0, outputDir: path.join(o.base.outputDir, `trial-${n}`) };
  const overrides: Partial<TrainOptions> = {};
  for (const [name, v] of Object.entries(params)) (overrides as Record<string, number>)[SEARCHABLE[name as keyof typeof SEARCHABLE]] = v;
  let prune = false;
  const curves = results.trials.filter((t) => t.state === 'complete' || t.state === 'pruned').map((t) => ({ complete: t.state === 'complete', intermediate: signed(t.intermediate, sign(results)) }));
  const started = performance.now();
  try {
    const r = await train(
      { ...o.base, ...overrides, teacherCache: run.teacherCache, outputDir: trial.outputDir, overwriteOutputDir: true },
      {
        ...cb.train,
        onLog(entry) {
          cb.train?.onLog?.(entry);
          const key = Object.keys(entry).find((k) => k === 'eval_accuracy' || k === 'eval_token_accuracy' || k === 'eval_perplexity');
          if (!key) return;
          if (!results.metric) Object.assign(results, { metric: key, direction: key === 'eval_perplexity' ? 'minimize' : 'maximize' });
          trial.intermediate[entry.step] = entry[key]!;
          if (o.pruning !== false && shouldPrune(curves, signed(trial.intermediate, sign(results)), entry.step, { startupTrials: o.pruning?.startupTrials })) prune = true;
        },
        shouldStop: () => stopAsked(run) || prune || (cb.train?.shouldStop?.() ?? false),
      },
    );
    // Stopped by the caller, not pruned: no result, so a resumed search runs this trial again. (A stop that
    // came after its last step leaves it complete.)
    if (r.interrupted && run.stopped) trial.state = 'interrupted';
    else if (r.interrupted) {
      const steps = Object.keys(trial.intermediate).map(Number);
      Object.assign(trial, { state: 'pruned', value: steps.length ? trial.intermediate[Math.max(...steps)]! : null });
    } else trial.value = r.evalMetrics?.[results.metric] ?? null;
  } catch (e) {
    // A bad option fails every trial alike: stop instead of recording N identical failures.
    if (e instanceof InputError && results.trials.length === 0) throw e;
    Object.assign(trial, { state: 'failed', error: e instanceof DistillError ? e.message : String((e as Error)?.message ?? e) });
    if (e instanceof InputError) trial.inputError = true;
  }
  trial.seconds = (performance.now() - started) / 1000;
  return trial;
}

const signed = (m: Record<number, number>, s: number) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, s * v]));

function bestTrial(trials: readonly Trial[], sign: number): number | null {
  let best: Trial | null = null;
  for (const t of trials) if (t.state === 'complete' && t.value !== null && (!best || sign * t.value > sign * best.value!)) best = t;
  return best ? best.number : null;
}

/** The best trial's model folder, without its checkpoints. */
function copyBest(from: string, to: string): void {
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true, filter: (src) => !/[\\/]checkpoint-\d+$/.test(src) });
}
