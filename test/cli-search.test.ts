/**
 * `distill search` from the command line (src/cli/search.ts): SIGINT and SIGTERM stop the search with exit
 * 130, the running trial recorded as interrupted (a resume runs it again), no best/ path that does not
 * exist; a search whose every trial failed exits non-zero with the first failure on one line.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DistillError, InputError } from '../src/errors.js';
import { allFailedError, summaryLines } from '../src/cli/search.js';
import type { SearchResults, Trial } from '../src/search/search.js';
import { parseSpace } from '../src/search/space.js';
import { MODELS, ROOT } from './helpers/fixtures.js';
import { tempDir } from './helpers/temp-dir.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const DATA = path.join(ROOT, 'test', 'data-train');
const tmp = tempDir('distill-cli-search-');

/** The search's arguments: bert teacher and student, 96 rows in batches of 32 (3 steps an epoch). */
const searchArgs = (out: string, ...more: string[]) => [
  'search', '--teacher', path.join(MODELS, 'bert-teacher', 'model.onnx'), '--student', path.join(MODELS, 'bert-student', 'model.onnx'),
  '--train-file', path.join(DATA, 'train.jsonl'), '--eval-file', path.join(DATA, 'eval.jsonl'), '--output-dir', out,
  '--batch-size', '32', '--threads', '1', '--steps-per-call', '1', ...more,
];

/** Runs a search that would take minutes, sends `signal` once its first trial has started, and waits for the exit. */
async function interrupted(out: string, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, [CLI, ...searchArgs(out, '--search', 'alpha=0:1', '--trials', '3', '--epochs', '500')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  try {
    // trial-0/ appears when the trial's train() starts; a little later it is in its steps.
    for (let i = 0; i < 600 && !fs.existsSync(path.join(out, 'trial-0')) && child.exitCode === null; i++) await sleep(50);
    await sleep(300);
    child.kill(signal);
    return { code: await exited, stdout, stderr };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('distill search: stopped by a signal', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: exit 130, the trial recorded as interrupted (not failed), how to resume, no best/`, async () => {
      const out = path.join(tmp.dir, `signal-${signal}`);
      const r = await interrupted(out, signal);
      assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /stopping the search after the current step; run the same command again to resume/);
      assert.match(r.stdout, /^0 trials: 0 complete, 0 pruned, 0 failed; results: /m);
      assert.match(r.stdout, /^interrupted \(trial 0 runs again on resume\): resume with the same command/m);
      assert.doesNotMatch(r.stdout, /best/);
      assert.ok(!fs.existsSync(path.join(out, 'best')));
      const saved = JSON.parse(fs.readFileSync(path.join(out, 'search_results.json'), 'utf8')) as SearchResults;
      assert.deepEqual(saved.trials.map((t) => [t.number, t.state]), [[0, 'interrupted']]);

      if (signal === 'SIGTERM') return;
      // The resume runs trial 0 again (with the same parameters), to the end this time.
      const again = spawnSync(process.execPath, [CLI, ...searchArgs(out, '--search', 'alpha=0:1', '--trials', '1', '--epochs', '1')], { encoding: 'utf8' });
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stdout, /^\s+0\s+complete\s/m);
      assert.match(again.stdout, /^best: trial 0, .*; model: .*best\/$/m);
      const resumed = JSON.parse(fs.readFileSync(path.join(out, 'search_results.json'), 'utf8')) as SearchResults;
      assert.deepEqual(resumed.trials.map((t) => [t.number, t.state, t.params]), [[0, 'complete', saved.trials[0]!.params]]);
      assert.ok(fs.existsSync(path.join(out, 'best', 'model.onnx')));
    });
  }
});

describe('distill search: no trial completed', () => {
  it('every trial diverges: exit 1, one line naming the first failure', () => {
    const out = path.join(tmp.dir, 'diverge');
    const r = spawnSync(process.execPath, [CLI, ...searchArgs(out, '--search', 'learning-rate=1e30:1e35:log', '--trials', '2', '--epochs', '2')], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^distill: no trial completed \(2 of 2 failed\); trial 0: the loss is NaN or infinite at step \d+ .*\(every trial's error: .*search_results\.json\)$/m);
    assert.doesNotMatch(r.stderr, /internal error/);
    assert.match(r.stdout, /^2 trials: 0 complete, 0 pruned, 2 failed/m);
  });

  const trial = (number: number, state: Trial['state'], extra: Partial<Trial> = {}): Trial =>
    ({ number, params: { alpha: 0.5 }, state, value: state === 'complete' ? 0.9 : null, intermediate: {}, seconds: 1, outputDir: `/x/trial-${number}`, ...extra });
  const results = (trials: Trial[]): SearchResults => ({ metric: 'eval_accuracy', direction: 'maximize', seed: 1, space: parseSpace(['alpha=0:1']), trials, best_trial: null });

  it('input errors exit 2, other failures 1; the first failure is named, on one line', () => {
    const input = allFailedError(results([trial(0, 'failed', { error: 'eval.jsonl:3: unknown label', inputError: true }), trial(1, 'failed', { error: 'x' })]), 'r.json');
    assert.ok(input instanceof InputError);
    assert.equal(input.exitCode, 2);
    assert.equal(input.message, "no trial completed (2 of 2 failed); trial 0: eval.jsonl:3: unknown label (every trial's error: r.json)");
    const other = allFailedError(results([trial(0, 'pruned'), trial(1, 'failed', { error: 'ORT said\nsecond line' })]), 'r.json');
    assert.ok(other instanceof DistillError && !(other instanceof InputError));
    assert.equal(other.exitCode, 1);
    assert.equal(other.message, "no trial completed (1 of 2 failed); trial 1: ORT said (every trial's error: r.json)");
    assert.equal(allFailedError(results([trial(0, 'complete'), trial(1, 'failed', { error: 'x' })]), 'r.json'), null);
  });

  it('a stopped search names the best trial\'s own folder, never a best/ it did not write', () => {
    const r = { ...results([trial(0, 'complete', { outputDir: tmp.dir }), trial(1, 'interrupted')]), best_trial: 0, stopped: true };
    const lines = summaryLines(r, '/nowhere');
    assert.deepEqual(lines, [
      '1 trials: 1 complete, 0 pruned, 0 failed; results: /nowhere/search_results.json',
      `best so far: trial 0, eval_accuracy 0.9000, alpha 0.500; model: ${tmp.dir}/`,
      'interrupted (trial 1 runs again on resume): resume with the same command (same --search, --seed and --output-dir /nowhere)',
    ]);
    // Not stopped, but best/ missing (copied elsewhere, deleted): the line has no model path.
    assert.equal(summaryLines({ ...r, stopped: false }, '/nowhere')[1], 'best: trial 0, eval_accuracy 0.9000, alpha 0.500');
  });
});
