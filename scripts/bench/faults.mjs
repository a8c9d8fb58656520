#!/usr/bin/env node
/**
 * The fault suite (docs/RELIABILITY.md): `distill train` on the tiny BERT fixture pair under kill -9,
 * damaged checkpoints, file-system failures, two runs on one folder, signals, and mutated model and
 * checkpoint files; prints one row of counts per fault and exits 1 if any count is wrong.
 *
 *   npm run faults                  # the full suite (a few minutes)
 *   node scripts/bench/faults.mjs --short # a few cases of each (test/faults.test.ts runs this)
 *   --seed N                        # another draw of kill times and bit positions (default 1)
 *
 * Needs `npm run build`. The read-only and full-disk rows mount small tmpfs folders and the no-permission
 * row drops to uid 65534, so they need root; without it they print "not run" and say why.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const SHORT = process.argv.includes('--short');
const seedArg = process.argv.indexOf('--seed');
let rngState = seedArg > 0 ? Number(process.argv[seedArg + 1]) : 1;
const N = SHORT
  ? { kill: 1, corruptRepeats: 1, fuzz: 300 }
  : { kill: 20, corruptRepeats: 3, fuzz: 3000 };

const { loadModel } = await import(path.join(ROOT, 'dist', 'src', 'onnx', 'model-io.js'));
const { readCheckpoint } = await import(path.join(ROOT, 'dist', 'src', 'train', 'checkpoint.js'));
const { DistillError } = await import(path.join(ROOT, 'dist', 'src', 'errors.js'));

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-faults-'));
const model = (n) => path.join(ROOT, 'models', n, 'model.onnx');
const DATA = path.join(ROOT, 'test', 'data-train');

/** Deterministic draws (mulberry32), so a failing case can be run again with the same --seed. */
function random() {
  rngState = (rngState + 0x6d2b79f5) | 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (n) => Math.floor(random() * n);

/** 96 rows / 8 = 12 steps per epoch, 24 in all; checkpoints at 5, 10, 15, 20, 24; a log entry every 4 steps, so a resume at 5, 10, 15 lands inside a logging window. */
const base = (out) => [
  '--teacher', model('bert-teacher'), '--student', model('bert-student'),
  '--train-file', path.join(DATA, 'train.jsonl'), '--eval-file', path.join(DATA, 'eval.jsonl'),
  '--batch-size', '8', '--epochs', '2', '--learning-rate', '1e-3', '--save-steps', '5', '--logging-steps', '4',
  '--threads', '1', '--steps-per-call', '3', '--output-dir', out,
];
/** A run long enough to signal (500 epochs), one step per call so it reacts within a step. */
const long = (out, extra = []) => [
  '--student', model('bert-student'), '--train-file', path.join(DATA, 'train.jsonl'), '--batch-size', '8', '--epochs', '500',
  '--logging-steps', '1', '--steps-per-call', '1', '--threads', '1', '--output-dir', out, ...extra,
];

function distill(args, opts = {}) {
  return spawnSync(process.execPath, [CLI, 'train', ...args], { encoding: 'utf8', timeout: 300_000, ...opts });
}

/** A started run; `until(re)` resolves when its stderr matches, `done` when it exits. */
function start(args) {
  const child = spawn(process.execPath, [CLI, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const waiters = [];
  child.stderr.on('data', (d) => {
    stderr += d;
    for (const w of waiters) if (w.re.test(stderr)) w.resolve();
  });
  child.stdout.resume();
  const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  const until = (re) => new Promise((resolve) => (re.test(stderr) ? resolve() : waiters.push({ re, resolve })));
  return { child, done, until, stderr: () => stderr };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The CLI's contract for a failure outside the program: exit 2 and one line on stderr, no stack, no "internal error". */
function oneLineExit2(r) {
  const lines = r.stderr.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  return r.status === 2 && /^distill: /.test(last) && !/internal error/.test(r.stderr) && !/^\s+at /m.test(r.stderr);
}

function tempLeftovers(dir) {
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return [];
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((n) => /\.tmp-\d+$/.test(n));
}

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
/** trainer_state.json with the run's folder taken out of its paths, so two runs' states compare. */
function stateOf(dir) {
  const s = readJson(path.join(dir, 'trainer_state.json'));
  if (s.best_model_checkpoint) s.best_model_checkpoint = path.basename(s.best_model_checkpoint);
  return JSON.stringify(s);
}
const sameBytes = (a, b) => fs.existsSync(a) && fs.existsSync(b) && fs.readFileSync(a).equals(fs.readFileSync(b));
/** The final weights and optimizer state, and the exported weights, byte for byte. */
const sameWeights = (a, b) => sameBytes(path.join(a, 'checkpoint-24', 'state.safetensors'), path.join(b, 'checkpoint-24', 'state.safetensors'))
  && sameBytes(path.join(a, 'model.safetensors'), path.join(b, 'model.safetensors'));
const sameTrainLoss = (a, b) => readJson(path.join(a, 'train_results.json')).train_loss === readJson(path.join(b, 'train_results.json')).train_loss;

const rows = [];
const failures = [];
/** One printed row: `counts` are [label, value, wanted] (wanted: the value it must have, or a predicate). */
let rowStarted = performance.now();
function row(name, cases, counts, note = '') {
  if (process.env.FAULTS_TIMES) process.stderr.write(`${name}: ${((performance.now() - rowStarted) / 1000).toFixed(1)} s\n`);
  rowStarted = performance.now();
  const parts = counts.map(([label, value]) => `${value} ${label}`);
  rows.push({ name, cases, text: parts.join(', ') + (note ? ` (${note})` : '') });
  for (const [label, value, wanted] of counts) {
    const ok = typeof wanted === 'function' ? wanted(value) : value === wanted;
    if (!ok) failures.push(`${name}: ${value} ${label}`);
  }
}

// --- reference: one uninterrupted run -------------------------------------------------------------------
const ref = path.join(work, 'ref');
const refRun = distill(base(ref));
if (refRun.status !== 0) throw new Error(`reference run failed: ${refRun.stderr}`);

// --- kill -9 at random moments, then resume until done ----------------------------------------------------
{
  let identical = 0, logsEqual = 0, lossEqual = 0, leftovers = 0, killed = 0, killedMidSave = 0;
  for (let t = 0; t < N.kill; t++) {
    const out = path.join(work, `kill-${t}`);
    const run = start(base(out));
    // Start-up (building the artifacts) takes most of a run's first second; the 24 steps the rest.
    await run.until(/resuming|step 4\b|saved/).catch(() => {});
    await sleep(randInt(600));
    if (run.child.exitCode === null) {
      run.child.kill('SIGKILL');
      killed++;
    }
    await run.done;
    if (tempLeftovers(out).some((n) => /^checkpoint-\d+\.tmp-\d+$/.test(n))) killedMidSave++;
    const hasCheckpoint = fs.existsSync(out) && fs.readdirSync(out).some((n) => /^checkpoint-\d+$/.test(n));
    const resumed = distill(hasCheckpoint ? [...base(out), '--resume-from-checkpoint', 'latest'] : base(out));
    if (resumed.status !== 0) {
      failures.push(`kill -9 trial ${t}: resume exited ${resumed.status}: ${resumed.stderr.trim().split('\n').pop()}`);
      continue;
    }
    if (sameWeights(ref, out)) identical++;
    if (stateOf(ref) === stateOf(out)) logsEqual++;
    if (sameTrainLoss(ref, out)) lossEqual++;
    leftovers += tempLeftovers(out).length;
  }
  row('kill -9, resume latest', N.kill, [
    ['killed mid-run', killed, () => true],
    ['of them mid-save (a checkpoint temp folder left)', killedMidSave, () => true],
    ['byte-identical weights', identical, N.kill],
    ['trainer_state.json (log_history) equal', logsEqual, N.kill],
    ['train_loss equal', lossEqual, N.kill],
    ['temp folders left after the resume', leftovers, 0],
  ]);
}

// --- damaged checkpoints ------------------------------------------------------------------------------
{
  const flipBit = (file, from, to) => {
    const b = fs.readFileSync(file);
    const at = from + randInt(Math.max(1, Math.min(b.length, to) - from));
    b[at] ^= 1 << randInt(8);
    fs.writeFileSync(file, b);
  };
  const headerEnd = (file) => 8 + Number(fs.readFileSync(file).readBigUInt64LE(0));
  const editState = (dir, edit) => {
    const f = path.join(dir, 'trainer_state.json');
    const s = readJson(f);
    edit(s);
    fs.writeFileSync(f, JSON.stringify(s, null, 2));
  };
  const st = (dir) => path.join(dir, 'state.safetensors');
  const kinds = {
    'bit flip in the tensors': (d) => flipBit(st(d), headerEnd(st(d)), Infinity),
    'bit flip in the safetensors header': (d) => flipBit(st(d), 8, headerEnd(st(d))),
    'second half of state.safetensors zeroed': (d) => {
      const b = fs.readFileSync(st(d));
      b.fill(0, b.length >> 1);
      fs.writeFileSync(st(d), b);
    },
    'state.safetensors truncated': (d) => fs.truncateSync(st(d), fs.statSync(st(d)).size >> 1),
    'state.safetensors deleted': (d) => fs.rmSync(st(d)),
    'global_step edited': (d) => editState(d, (s) => (s.global_step += 1)),
    'data_position edited': (d) => editState(d, (s) => (s.data_position.batch += 1)),
    'log_history edited': (d) => editState(d, (s) => (s.log_history[0].loss *= 2)),
    'trainer_state.json not JSON': (d) => fs.writeFileSync(path.join(d, 'trainer_state.json'), '{"global_step": 2'),
    'manifest.json deleted': (d) => fs.rmSync(path.join(d, 'manifest.json')),
  };
  const names = SHORT ? ['bit flip in the tensors', 'global_step edited'] : Object.keys(kinds);
  let cases = 0, fellBack = 0, identical = 0, refused = 0, accepted = 0;
  for (const name of names) {
    for (let r = 0; r < N.corruptRepeats; r++) {
      cases++;
      const out = path.join(work, `corrupt-${cases}`);
      fs.mkdirSync(out);
      for (const s of [5, 10, 15, 20]) fs.cpSync(path.join(ref, `checkpoint-${s}`), path.join(out, `checkpoint-${s}`), { recursive: true });
      kinds[name](path.join(out, 'checkpoint-20'));
      // Named explicitly, a damaged checkpoint is refused in one line.
      const explicit = distill([...base(out), '--resume-from-checkpoint', path.join(out, 'checkpoint-20')]);
      if (oneLineExit2(explicit) && /checkpoint-20: damaged checkpoint/.test(explicit.stderr)) refused++;
      else if (explicit.status === 0) accepted++;
      // 'latest' falls back to checkpoint-15, says so, and ends where the uninterrupted run ended.
      const latest = distill([...base(out), '--resume-from-checkpoint', 'latest']);
      const said = /checkpoint-20: damaged checkpoint .*resuming from .*checkpoint-15, the newest checkpoint that verifies/.test(latest.stderr);
      if (latest.status === 0 && said) fellBack++;
      else if (latest.status === 0) accepted++;
      else failures.push(`${name}: resume latest exited ${latest.status}: ${latest.stderr.trim().split('\n').pop()}`);
      if (latest.status === 0 && sameWeights(ref, out) && stateOf(ref) === stateOf(out)) identical++;
    }
  }
  row('damaged checkpoint', cases, [
    ['accepted without a word', accepted, 0],
    ['named explicitly: refused in one line', refused, cases],
    ['latest: fell back to the previous one', fellBack, cases],
    ['then byte-identical to the uninterrupted run', identical, cases],
  ], `kinds: ${names.join('; ')}`);
}

// --- the file system refuses --------------------------------------------------------------------------
{
  const isRoot = process.getuid?.() === 0;
  const umount = (dir) => spawnSync('umount', [dir]);
  const mount = (dir, opts) => {
    fs.mkdirSync(dir, { recursive: true });
    const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]).status === 0;
    // Unmounted after its case, and here too should the suite fail before that.
    if (ok) process.on('exit', () => umount(dir));
    return ok;
  };
  const cases = [];
  const file = path.join(work, 'a-file');
  fs.writeFileSync(file, 'x');
  cases.push(['output dir is a file', () => distill(base(file)), /a-file: is a file, not a folder/, work]);
  cases.push(['output dir under a file', () => distill(base(path.join(file, 'out'))), /a-file.*ENOTDIR|not a folder/, work]);
  const notRun = [];
  if (isRoot && mount(path.join(work, 'ro'), 'size=1m,ro')) {
    cases.push(['read-only file system', () => distill(base(path.join(work, 'ro', 'out'))), /ro\/out.*EROFS.*read-only/, path.join(work, 'ro'), () => umount(path.join(work, 'ro'))]);
  } else notRun.push('read-only (needs root to mount)');
  // 2.5 MB: the artifacts fit, the checkpoints (about 0.9 MB each) fill it around the second one.
  if (isRoot && mount(path.join(work, 'full'), 'size=2500k')) {
    cases.push(['disk full', () => distill(base(path.join(work, 'full', 'out'))), /full\/out.*ENOSPC.*disk is full/, path.join(work, 'full'), () => umount(path.join(work, 'full'))]);
  } else notRun.push('disk full (needs root to mount)');
  const noWrite = path.join(work, 'no-write');
  fs.mkdirSync(noWrite, { mode: 0o555 });
  fs.chmodSync(noWrite, 0o555);
  // As uid 65534 the CLI must still be readable: a checkout under a 0700 folder (mktemp -d) is not, and the
  // case would test that instead of the error path.
  const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
  const setpriv = isRoot && spawnSync('setpriv', [...nobody, 'true']).status === 0;
  const nobodyRuns = setpriv && spawnSync('setpriv', [...nobody, process.execPath, CLI, '--help']).status === 0;
  if (nobodyRuns || !isRoot) {
    const asNobody = (args) => (isRoot
      ? spawnSync('setpriv', [...nobody, process.execPath, CLI, 'train', ...args], { encoding: 'utf8', timeout: 120_000 })
      : distill(args));
    cases.push(['no write permission', () => asNobody(base(path.join(noWrite, 'out'))), /no-write\/out.*EACCES.*permission denied/, noWrite]);
  } else notRun.push(setpriv ? 'no write permission (uid 65534 cannot read this checkout)' : 'no write permission (root ignores permissions and setpriv is missing)');
  // A checkpoint whose manifest matches but whose trainer_state field is unusable (hand-edited and resealed).
  const resealed = path.join(work, 'resealed');
  fs.cpSync(path.join(ref, 'checkpoint-10'), path.join(resealed, 'checkpoint-10'), { recursive: true });
  {
    const { writeManifest } = await import(path.join(ROOT, 'dist', 'src', 'train', 'checkpoint-manifest.js'));
    const dir = path.join(resealed, 'checkpoint-10');
    const manifest = readJson(path.join(dir, 'manifest.json'));
    const s = readJson(path.join(dir, 'trainer_state.json'));
    s.global_step = 'ten';
    fs.writeFileSync(path.join(dir, 'trainer_state.json'), JSON.stringify(s));
    fs.rmSync(path.join(dir, 'manifest.json'));
    writeManifest(dir, manifest.run);
  }
  cases.push(['trainer_state field malformed (manifest resealed)', () => distill([...base(resealed), '--resume-from-checkpoint', path.join(resealed, 'checkpoint-10')]), /trainer_state\.json: 'global_step' must be/, resealed]);
  let oneLine = 0, internal = 0, leftovers = 0;
  for (const [name, run, re, scan, cleanup] of cases) {
    const r = run();
    if (oneLineExit2(r) && re.test(r.stderr)) oneLine++;
    else failures.push(`${name}: exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
    if (/internal error/.test(r.stderr)) internal++;
    leftovers += tempLeftovers(scan).length;
    cleanup?.();
  }
  row('file system refuses', cases.length, [
    ['one-line exit 2 naming the path', oneLine, cases.length],
    ['internal errors', internal, 0],
    ['temp files left', leftovers, 0],
  ], `${cases.map((c) => c[0]).join('; ')}${notRun.length ? `; not run: ${notRun.join(', ')}` : ''}`);
}

// --- two runs on one folder ---------------------------------------------------------------------------
{
  const out = path.join(work, 'two');
  const first = start(long(out));
  await first.until(/step 2\b/);
  const second = distill(long(out, ['--overwrite-output-dir']));
  const refused = oneLineExit2(second) && /is in use by another training run \(pid \d+/.test(second.stderr) ? 1 : 0;
  const untouched = first.child.exitCode === null && fs.existsSync(path.join(out, '.distill.lock')) ? 1 : 0;
  first.child.kill('SIGKILL');
  await first.done;
  // The killed run's lock is stale: a new run takes it over.
  const third = distill(long(out, ['--overwrite-output-dir', '--max-steps', '3']));
  const tookOver = third.status === 0 ? 1 : 0;
  row('two runs on one folder', 1, [
    ['second run refused in one line', refused, 1],
    ['first run unharmed', untouched, 1],
    ['stale lock of a killed run taken over', tookOver, 1],
  ]);
}

// --- signals --------------------------------------------------------------------------------------------
{
  const checkpoints = (out) => (fs.existsSync(out) ? fs.readdirSync(out).filter((n) => /^checkpoint-\d+$/.test(n)).length : 0);
  const saves = async (sig, extra = []) => {
    const out = path.join(work, `sig-${sig}-${extra.join('')}`);
    const run = start(long(out, extra));
    await run.until(/step 3\b/);
    run.child.kill(sig);
    const r = await run.done;
    return r.code === 130 && checkpoints(out) > 0 && /resuming|stopping after the current step/.test(r.stderr) ? 1 : 0;
  };
  const term = await saves('SIGTERM');
  const int = await saves('SIGINT');
  const lowInt = await saves('SIGINT', ['--low-memory']);
  // A second signal quits at once: no "interrupted" summary, ended by the signal.
  const twice = await (async () => {
    const run = start(long(path.join(work, 'sig-twice')));
    await run.until(/step 3\b/);
    run.child.kill('SIGINT');
    await run.until(/stopping after the current step/);
    run.child.kill('SIGINT');
    const r = await run.done;
    return r.signal === 'SIGINT' || r.code === 130 ? 1 : 0;
  })();
  // kill -9 of the low-memory parent: its child must not train on.
  const orphans = await (async () => {
    const run = start(long(path.join(work, 'sig-orphan'), ['--low-memory']));
    await run.until(/step 3\b/);
    const parent = run.child.pid;
    const children = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]) === parent;
      } catch {
        return false;
      }
    }).map(Number);
    run.child.kill('SIGKILL');
    await run.done;
    await sleep(1500);
    // Alive: /proc still lists it and not as a zombie (a dead child nobody has reaped yet).
    const alive = (pid) => {
      try {
        return !/^Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, ''));
      } catch {
        return false;
      }
    };
    return children.filter(alive).length + (children.length === 0 ? 1 : 0); // no child found would be a broken check, not a pass
  })();
  row('signals', 5, [
    ['SIGTERM: checkpoint saved, exit 130', term, 1],
    ['SIGINT: checkpoint saved, exit 130', int, 1],
    ['--low-memory, SIGINT to the CLI pid: saved, exit 130', lowInt, 1],
    ['second SIGINT quits at once', twice, 1],
    ['--low-memory, kill -9 of the CLI: orphans training on', orphans, 0],
  ]);
}

// --- loader fuzz: mutated model and checkpoint files ---------------------------------------------------
{
  const targets = [
    ['model', model('bert-student'), (f) => loadModel(f)],
    ['checkpoint', path.join(ref, 'checkpoint-10'), (d) => readCheckpoint(d)],
  ];
  let typed = 0, loaded = 0, crashes = 0, slowest = 0;
  const crashNotes = new Set();
  for (let i = 0; i < N.fuzz; i++) {
    const [kind, src, load] = targets[i % targets.length];
    const dest = path.join(work, `fuzz-${kind}`);
    let file;
    if (kind === 'model') {
      file = path.join(dest, 'model.onnx');
      fs.mkdirSync(dest, { recursive: true });
      fs.copyFileSync(src, file);
    } else {
      fs.rmSync(dest, { recursive: true, force: true });
      fs.cpSync(src, dest, { recursive: true });
      file = path.join(dest, randInt(2) ? 'state.safetensors' : 'trainer_state.json');
    }
    const b = fs.readFileSync(file);
    const mode = randInt(3);
    let mutated;
    if (mode === 0) {
      mutated = Buffer.from(b);
      for (let k = 1 + randInt(8); k > 0; k--) mutated[randInt(mutated.length)] = randInt(256);
    } else if (mode === 1) mutated = b.subarray(0, randInt(b.length));
    else {
      // Bytes in the first 64 (headers, lengths, the first fields): where a loader is most often fooled.
      mutated = Buffer.from(b);
      mutated[randInt(Math.min(64, b.length))] = randInt(256);
    }
    fs.writeFileSync(file, mutated);
    const t0 = performance.now();
    try {
      load(kind === 'model' ? file : dest);
      loaded++;
    } catch (e) {
      if (e instanceof DistillError) typed++;
      else {
        crashes++;
        crashNotes.add(`${kind}: ${e?.constructor?.name}: ${String(e?.message).slice(0, 80)}`);
      }
    }
    slowest = Math.max(slowest, performance.now() - t0);
  }
  for (const c of crashNotes) failures.push(`loader fuzz ${c}`);
  row('loader fuzz', N.fuzz, [
    ['typed one-line errors', typed, () => true],
    ['loaded', loaded, () => true],
    ['crashes (untyped errors)', crashes, 0],
    ['hangs (over 10 s)', slowest > 10_000 ? 1 : 0, 0],
  ], `model.onnx and checkpoint files, random bytes, truncations and header bytes; slowest ${slowest.toFixed(0)} ms`);
}

const width = Math.max(...rows.map((r) => r.name.length));
process.stdout.write(`fault suite (${SHORT ? 'short' : 'full'}, seed ${seedArg > 0 ? process.argv[seedArg + 1] : 1}), ${work}\n`);
for (const r of rows) process.stdout.write(`${r.name.padEnd(width)}  ${String(r.cases).padStart(4)} cases  ${r.text}\n`);
if (failures.length) {
  process.stdout.write(`FAILED:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('all rows pass\n');
if (!process.argv.includes('--keep')) fs.rmSync(work, { recursive: true, force: true });
