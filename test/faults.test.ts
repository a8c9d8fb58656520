/**
 * The fault suite's short form (scripts/bench/faults.mjs --short; `npm run faults` runs it in full): kill -9 and
 * resume to the uninterrupted run's bytes and trainer_state.json, damaged checkpoints refused or passed
 * over, file-system failures as one-line exit-2 errors, two runs on one folder, signals, loader fuzz.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { it } from 'node:test';
import { ROOT } from './helpers/fixtures.js';

it('the fault suite, a few cases of each row, passes', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bench', 'faults.mjs'), '--short'], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const name of ['kill -9, resume latest', 'damaged checkpoint', 'file system refuses', 'two runs on one folder', 'signals', 'loader fuzz']) {
    assert.match(r.stdout, new RegExp(`^${name} +\\d+ cases`, 'm'), name);
  }
  assert.match(r.stdout, /0 accepted without a word/);
  assert.match(r.stdout, /0 crashes/);
  assert.match(r.stdout, /^all rows pass$/m);
});
