/**
 * The step contract (src/step/contract.ts): a built folder's manifest reads back, and a damaged or foreign
 * manifest fails at `readManifest` with the field's name instead of somewhere inside a run.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import { InputError } from '../src/errors.js';
import { METRICS, STEP_IO } from '../src/step/contract.js';
import { readManifest } from '../src/step/read-manifest.js';
import { MODELS } from './helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-contract-'));

describe('the step contract', () => {
  const dir = path.join(tmp, 'built');
  buildTrainingArtifacts({ student: path.join(MODELS, 'bert-student', 'model.onnx'), task: 'seq-cls', optimizer: 'adamw', outDir: dir });
  const original = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;

  it('reads what the builder wrote, with the contract’s names', () => {
    const m = readManifest(dir);
    assert.deepEqual(m.metrics, [...METRICS]);
    assert.ok(m.batch.some((b) => b.name === STEP_IO.labels));
    assert.ok(m.hyperparameters.some((h) => h.name === STEP_IO.lr));
  });

  const damaged: [string, (m: Record<string, unknown>) => void, RegExp][] = [
    ['a format from another version', (m) => (m.format = 99), /field 'format' is 99/],
    ['no models', (m) => delete m.models, /field 'models' is missing/],
    ['a parameter without its shape', (m) => delete (m.parameters as Record<string, unknown>[])[3]!.shape, /field 'parameters\[3\]\.shape'/],
    ['a state entry with a string init', (m) => ((m.state as Record<string, unknown>[])[0]!.init = '0'), /field 'state\[0\]\.init'/],
    ['metrics that are not names', (m) => (m.metrics = [1, 2]), /field 'metrics'/],
  ];
  for (const [what, damage, message] of damaged) {
    it(`refuses ${what}, naming the field, in one line`, () => {
      const bad = path.join(tmp, what.replace(/\W+/g, '-'));
      fs.mkdirSync(bad, { recursive: true });
      const m = structuredClone(original);
      damage(m);
      fs.writeFileSync(path.join(bad, 'manifest.json'), JSON.stringify(m));
      assert.throws(() => readManifest(bad), (e: unknown) => e instanceof InputError && message.test(e.message) && !e.message.includes('\n'));
    });
  }

  it('says how to make a manifest where there is none', () => {
    assert.throws(() => readManifest(path.join(tmp, 'nothing')), /no manifest; build the training artifacts with 'distill build' first/);
  });
});
