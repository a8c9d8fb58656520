/**
 * The pieces of reliable training, each against an independent view: checkpoint manifests against
 * node:crypto's sha256 of the files, resume fallback and pruning against the folders left on disk, the
 * output-dir lock against live and dead processes, the divergence watch against its formula, and
 * file-system failures against the one-line InputError contract. The end-to-end faults (kill -9, full
 * disks, signals) are in test/faults.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { InputError } from '../src/errors.js';
import { type TrainerState, writeCheckpoint } from '../src/train/checkpoint.js';
import { checkpointDamage } from '../src/train/checkpoint-manifest.js';
import { pruneCheckpoints, removeInterruptedWrites, resumeFrom } from '../src/train/checkpoint-resume.js';
import { DIVERGENCE_FACTOR, DIVERGENCE_WINDOW, DivergenceWatch, allFinite } from '../src/train/divergence.js';
import { LOCK_FILE, lockOutputDir } from '../src/train/output-lock.js';
import { writeFileAtomic } from '../src/util/fs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-reliability-'));
const RUN = { '--seed': 42, '--batch-size': 8 };

function state(step: number): TrainerState {
  return {
    global_step: step, epoch: step / 10, max_steps: 100, num_train_epochs: 10, log_history: [{ step, epoch: step / 10, loss: 1 / step }],
    best_metric: null, best_model_checkpoint: null, data_position: { epoch: 0, batch: step }, patience_used: 0, seed: 42,
  };
}
function save(dir: string, step: number, run = RUN): string {
  const w = new ort.Tensor('float32', Float32Array.from({ length: 64 }, (_, i) => step + i / 64), [8, 8]);
  return writeCheckpoint(dir, new Map([['w', w]]), state(step), run);
}
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('checkpoint manifests', () => {
  const out = path.join(tmp, 'manifest');
  const dir = save(out, 3);

  it('list the size and sha256 of every other file, and the run settings', () => {
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    assert.deepEqual(Object.keys(m.files).sort(), ['state.safetensors', 'trainer_state.json']);
    for (const [name, f] of Object.entries(m.files) as [string, { size: number; sha256: string }][]) {
      assert.equal(f.size, fs.statSync(path.join(dir, name)).size, name);
      assert.equal(f.sha256, sha256(path.join(dir, name)), name);
    }
    assert.deepEqual(m.run, RUN);
    assert.equal(checkpointDamage(dir), null);
    assert.deepEqual(fs.readdirSync(out), ['checkpoint-3'], 'no temporary folder left');
  });

  const damage: [string, (d: string) => void, RegExp][] = [
    ['one bit of a tensor flipped', (d) => {
      const f = path.join(d, 'state.safetensors');
      const b = fs.readFileSync(f);
      b[b.length - 5]! ^= 0x10;
      fs.writeFileSync(f, b);
    }, /state\.safetensors does not match its sha256/],
    ['global_step edited (same length)', (d) => {
      const f = path.join(d, 'trainer_state.json');
      fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('"global_step": 3', '"global_step": 4'));
    }, /trainer_state\.json does not match its sha256/],
    ['a file truncated', (d) => fs.truncateSync(path.join(d, 'state.safetensors'), 10), /state\.safetensors has 10 bytes, manifest\.json says \d+/],
    ['a file deleted', (d) => fs.rmSync(path.join(d, 'trainer_state.json')), /trainer_state\.json is missing/],
    ['a file added', (d) => fs.writeFileSync(path.join(d, 'extra.bin'), 'x'), /extra\.bin not in manifest\.json/],
    ['the manifest deleted', (d) => fs.rmSync(path.join(d, 'manifest.json')), /no manifest\.json/],
    ['the manifest garbled', (d) => fs.writeFileSync(path.join(d, 'manifest.json'), '{"format": 1'), /manifest\.json is unreadable/],
  ];
  for (const [what, spoil, reason] of damage) {
    it(`detect ${what}`, () => {
      const d = save(path.join(tmp, `damage-${what.replace(/\W+/g, '-')}`), 3);
      spoil(d);
      assert.match(checkpointDamage(d) ?? 'intact', reason);
    });
  }
});

describe('resuming', () => {
  it("'latest' falls back past damaged checkpoints to the newest that verifies, saying so in one line", () => {
    const out = path.join(tmp, 'fallback');
    for (const s of [2, 4, 6, 8]) save(out, s);
    for (const s of [8, 6]) fs.appendFileSync(path.join(out, `checkpoint-${s}`, 'state.safetensors'), 'x');
    const info: string[] = [];
    const r = resumeFrom('latest', out, RUN, (m) => info.push(m));
    assert.equal(r.dir, path.join(out, 'checkpoint-4'));
    assert.equal(r.state.global_step, 4);
    assert.equal((r.tensors.get('w')!.data as Float32Array)[1], 4 + 1 / 64);
    assert.equal(info.length, 1);
    assert.match(info[0]!, /checkpoint-8: damaged checkpoint \(state\.safetensors has \d+ bytes.*checkpoint-6: damaged.*resuming from .*checkpoint-4, the newest checkpoint that verifies$/);
    assert.doesNotMatch(info[0]!, /\n/);
  });

  it('a damaged checkpoint named explicitly is refused, not replaced by another', () => {
    const out = path.join(tmp, 'explicit');
    save(out, 2);
    const bad = save(out, 4);
    fs.rmSync(path.join(bad, 'manifest.json'));
    assert.throws(() => resumeFrom(bad, out, RUN), (e: Error) => e instanceof InputError && /checkpoint-4: damaged checkpoint \(no manifest\.json.*resume from an earlier checkpoint/.test(e.message));
  });

  it('settings that must match are checked by flag, with no fallback', () => {
    const out = path.join(tmp, 'mismatch');
    save(out, 2);
    save(out, 4);
    assert.throws(() => resumeFrom('latest', out, { ...RUN, '--batch-size': 16 }), /checkpoint-4: the checkpoint was trained with --batch-size 8, not 16; resume with the same settings/);
  });

  it('no checkpoint that verifies: one line listing why', () => {
    const out = path.join(tmp, 'none-verifies');
    fs.rmSync(path.join(save(out, 2), 'manifest.json'));
    assert.throws(() => resumeFrom('latest', out, RUN), /no checkpoint verifies \(.*checkpoint-2: damaged checkpoint/);
    assert.throws(() => resumeFrom('latest', path.join(tmp, 'empty'), RUN), /no checkpoint to resume from/);
  });

  it('a verified trainer_state.json with an unusable field is refused by name', () => {
    const out = path.join(tmp, 'fields');
    const dir = path.join(out, 'checkpoint-2');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(save(path.join(tmp, 'fields-src'), 2), 'state.safetensors'), path.join(dir, 'state.safetensors'));
    fs.writeFileSync(path.join(dir, 'trainer_state.json'), JSON.stringify({ ...state(2), data_position: { epoch: -1, batch: 0 } }));
    // Sealed as if written so: the manifest matches, the field does not.
    return import('../src/train/checkpoint-manifest.js').then(({ writeManifest }) => {
      writeManifest(dir, RUN);
      assert.throws(() => resumeFrom(dir, out, RUN), /trainer_state\.json: 'data_position' must be \{ epoch, batch \} of whole numbers >= 0/);
    });
  });
});

describe('checkpoint folders', () => {
  it('interrupted writes are removed; finished checkpoints and other files are not', () => {
    const out = path.join(tmp, 'interrupted');
    save(out, 2);
    fs.mkdirSync(path.join(out, 'checkpoint-4.tmp-12345'));
    fs.writeFileSync(path.join(out, '.trainer_state.json.tmp-999'), '{');
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    assert.deepEqual(removeInterruptedWrites(out).sort(), ['.trainer_state.json.tmp-999', 'checkpoint-4.tmp-12345']);
    assert.deepEqual(fs.readdirSync(out).sort(), ['checkpoint-2', 'notes.txt']);
  });

  it('--save-total-limit deletes the oldest, never the newest or the best', () => {
    const out = path.join(tmp, 'prune');
    for (const s of [1, 2, 3, 4, 5]) save(out, s);
    const removed = pruneCheckpoints(out, 2, [path.join(out, 'checkpoint-1')]);
    assert.deepEqual(removed.map((d) => path.basename(d)), ['checkpoint-2', 'checkpoint-3', 'checkpoint-4']);
    assert.deepEqual(fs.readdirSync(out).sort(), ['checkpoint-1', 'checkpoint-5']);
    assert.deepEqual(pruneCheckpoints(out, 1, [path.join(out, 'checkpoint-1')]), [], 'the best stays beyond the limit');
  });
});

describe('the output-dir lock', () => {
  it('a folder held by a live process is refused in one line naming it; a dead one is taken over', () => {
    const out = path.join(tmp, 'locked');
    fs.mkdirSync(out);
    const file = path.join(out, LOCK_FILE);
    // The test runner's parent is alive for as long as this test runs.
    fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, host: os.hostname(), started: 'then' }));
    assert.throws(() => lockOutputDir(out), (e: Error) => e instanceof InputError && e.message.includes(`is in use by another training run (pid ${process.ppid}, since then)`));
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    fs.writeFileSync(file, JSON.stringify({ pid: gone, host: os.hostname(), started: 'then' }));
    const lock = lockOutputDir(out);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).pid, process.pid);
    lock.release();
    assert.ok(!fs.existsSync(file), 'released');
  });

  it("another host's lock cannot be judged, so it is refused with the way out", () => {
    const out = path.join(tmp, 'locked-elsewhere');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify({ pid: 1, host: 'node-7', started: 'then' }));
    assert.throws(() => lockOutputDir(out), /pid 1 on node-7.*delete .*\.distill\.lock if that run is gone/);
  });

  it('an output dir that is a file is refused by name', () => {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, '');
    assert.throws(() => lockOutputDir(file), /a-file: is a file, not a folder/);
  });
});

describe('divergence', () => {
  it(`warns once, when the mean of ${DIVERGENCE_WINDOW} losses passes ${DIVERGENCE_FACTOR} times the lowest window mean`, () => {
    const w = new DivergenceWatch();
    const losses = [0.7, 0.6, 0.5, ...Array(20).fill(0.55)];
    assert.ok(losses.every((l, i) => w.add(i + 1, l) === null), 'a steady loss: no warning');
    // Lowest window mean 0.545 (0.5 and nine 0.55): the mean must exceed 54.5. Nine losses of 62 and one of 0.55: 55.855.
    const spikes = Array(9).fill(62);
    const said = spikes.map((l, i) => w.add(24 + i, l));
    assert.deepEqual(said.slice(0, 8), Array(8).fill(null), 'fewer spikes keep the mean under 54.5');
    assert.match(said[8]!, /^warning: the loss is diverging: 55\.9 on average over the last 10 batches to step 32, over 100 times its first loss or lowest 10-batch mean \(0\.545\); lower --learning-rate$/);
    assert.equal(w.add(33, 1e9), null, 'only once');
  });

  it('one batch with a near-zero loss is no baseline; a run that explodes at once is caught by its first loss', () => {
    // distill demo's few-label run: single losses down to 0.0016 among losses around 0.2.
    const calm = new DivergenceWatch();
    const losses = Array.from({ length: 300 }, (_, i) => (i % 37 === 5 ? 0.0016 : 0.15 + 0.1 * Math.sin(i)));
    assert.ok(losses.every((l, i) => calm.add(i + 1, l) === null));
    // AdamW at lr 1e6: 0.7, then 1e5 and up; every window is high, the first loss is the baseline.
    const wild = new DivergenceWatch();
    const said = [0.7, ...Array.from({ length: 12 }, (_, i) => 1e5 * (i + 1))].map((l, i) => wild.add(i + 1, l));
    assert.equal(said.findIndex((x) => x !== null), 9, 'at the first full window');
    assert.match(said[9]!, /over 100 times its first loss or lowest 10-batch mean \(0\.700\)/);
    // A run that starts at a loss of exactly 0: ordinary losses are no divergence, a mean over 1 is.
    const zero = new DivergenceWatch();
    assert.ok([0, ...Array(20).fill(0.5)].every((l, i) => zero.add(i + 1, l) === null));
    assert.equal(Array.from({ length: 10 }, (_, i) => zero.add(22 + i, 5)).filter((x) => x !== null).length, 1);
  });

  it('allFinite finds one NaN or infinity anywhere', () => {
    assert.ok(allFinite([new Float32Array([1, 2]), new Float32Array(3)]));
    assert.ok(!allFinite([new Float32Array([1, 2]), new Float32Array([0, Number.POSITIVE_INFINITY])]));
    assert.ok(!allFinite([new Float32Array([Number.NaN])]));
  });
});

describe('file-system failures', () => {
  it('writeFileAtomic under a file: an InputError naming the path, and no temporary file', () => {
    const file = path.join(tmp, 'plain');
    fs.writeFileSync(file, '');
    assert.throws(() => writeFileAtomic(path.join(file, 'x.json'), '{}'), (e: Error) => e instanceof InputError && /plain: EEXIST during mkdir: a file is in the way/.test(e.message));
  });

});
