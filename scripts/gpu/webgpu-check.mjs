#!/usr/bin/env node
// WebGPU parity and timing of the training-step artifacts, against the CPU EP and the committed PyTorch
// references (models/steps/*.ref.safetensors, the same ones test/train-step.test.ts uses).
//
//   npm run build
//   node scripts/gpu/webgpu-check.mjs [--eps cpu,webgpu] [--refs bert-student.adamw,...] [--no-timing]
//        [--batch 32] [--seq 128] [--k 8] [--calls 3] [--warmup 2] [--small DIR] [--budget-s 240]
//        [--placement]
//   --eps takes execution providers, each optionally with ':low-memory' (TrainerSession's low-memory mode:
//   train_step.onnx once per step, updated in place), e.g. --eps cpu,webgpu,webgpu:low-memory
//   env: DISTILL_BUILD (default <root>/build: the compiled library), DISTILL_MODELS (default <root>/models)
//
// Parity: for each reference (default: all six, SGD and AdamW for the BERT, DistilBERT and GPT-2 pairs)
// the artifacts are built as the tests build them (the reference's optimizer settings, its max_norm clip),
// then the same 5 batches run as one 5-step TrainerSession.train call on every EP. Printed: the metrics per
// step per EP; per EP, the worst relative error of the loss terms and of each parameter's update (relative
// L2, as the tests measure it) against PyTorch, with PASS/FAIL on the test suite's bars; and WebGPU vs CPU.
//
// Timing: per-step ms of TrainerSession.train over K stacked random batches (B x S) of the fixture BERT
// student (and, with --small DIR, of the scripts/make_bench_models.py 'small' student in DIR/model.onnx),
// `warmup` warm-up calls, then the median of `calls` timed calls divided by K, per EP.
//
// --placement: per EP, a child process opens train_loop.onnx with ORT's verbose log and prints which nodes
// ORT placed on which provider (the WebGPU EP hands nodes it has no kernel for to the CPU EP).
//
// Errors are caught per EP and printed; the script goes on with the next EP or reference.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..', '..');
const MODELS = process.env.DISTILL_MODELS ?? (fs.existsSync(path.join(ROOT, 'models')) ? path.join(ROOT, 'models') : path.resolve('models'));
const BUILD = path.resolve(process.env.DISTILL_BUILD ?? path.join(ROOT, 'build'));
const lib = async (p) => import(pathToFileURL(path.join(BUILD, 'src', p)).href);

// ---------------------------------------------------------------------------------------------------------
// placement child: node webgpu-check.mjs --placement-child EP MODEL

if (process.argv[2] === '--placement-child') {
  const ort = (await import('onnxruntime-node')).default;
  const [ep, model] = process.argv.slice(3);
  ort.env.logLevel = 'verbose';
  try {
    await ort.InferenceSession.create(model, { executionProviders: [ep], logSeverityLevel: 0, logVerbosityLevel: 0, graphOptimizationLevel: 'all' });
    console.log('PLACEMENT-CHILD: session created');
  } catch (e) {
    console.log(`PLACEMENT-CHILD: session failed: ${e?.message ?? e}`);
  }
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------------------
// arguments

const args = { eps: ['cpu', 'webgpu'], refs: null, timing: true, batch: 32, seq: 128, k: 8, calls: 3, warmup: 2, small: null, budgetS: 240, placement: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const next = () => process.argv[++i];
  if (a === '--eps') args.eps = next().split(',');
  else if (a === '--refs') args.refs = next().split(',');
  else if (a === '--no-timing') args.timing = false;
  else if (a === '--batch') args.batch = Number(next());
  else if (a === '--seq') args.seq = Number(next());
  else if (a === '--k') args.k = Number(next());
  else if (a === '--calls') args.calls = Number(next());
  else if (a === '--warmup') args.warmup = Number(next());
  else if (a === '--small') args.small = next();
  else if (a === '--budget-s') args.budgetS = Number(next());
  else if (a === '--placement') args.placement = true;
  else throw new Error(`unknown argument ${a}`);
}

const ort = (await import('onnxruntime-node')).default;
const { buildTrainingArtifacts, TrainerSession } = await lib('index.js');
const { mulberry32 } = await lib('data/batches.js');
// The test suite's reference loading and comparison (test/helpers/step-reference.ts, compiled with the build).
const { loadStepReference, referenceExpected, compareRun } = await import(pathToFileURL(path.join(BUILD, 'test', 'helpers', 'step-reference.js')).href);

const T0 = performance.now();
const elapsedS = () => (performance.now() - T0) / 1000;
const log = (...a) => console.log(...a);
const errLine = (e) => String(e?.stack ?? e?.message ?? e).split('\n').slice(0, 6).join('\n    ');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webgpu-check-'));
const fmt = (x) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

// ---------------------------------------------------------------------------------------------------------
// environment

log(`# webgpu-check: node ${process.version}, onnxruntime-node ${ort.env.versions?.node ?? '?'}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`);
log(`# root ${ROOT}, build ${BUILD}${fs.existsSync(path.join(BUILD, 'BUILD_INFO')) ? ` (${fs.readFileSync(path.join(BUILD, 'BUILD_INFO'), 'utf8').trim()})` : ''}, models ${MODELS}`);
try {
  log(`# ort.listSupportedBackends(): ${JSON.stringify(ort.listSupportedBackends?.())}`);
} catch (e) {
  log(`# ort.listSupportedBackends() failed: ${errLine(e)}`);
}

/** Prints what onnxruntime-node exposes of the WebGPU adapter (after a WebGPU session exists). */
function adapterInfo() {
  try {
    const w = ort.env.webgpu;
    if (!w) return log('# ort.env.webgpu: undefined (onnxruntime-node does not expose the adapter)');
    const keys = Object.keys(w);
    let info = '';
    try {
      const a = w.adapter;
      info = a ? JSON.stringify(a.info ?? a) : String(a);
    } catch (e) {
      info = `adapter getter threw: ${e?.message ?? e}`;
    }
    log(`# ort.env.webgpu keys ${JSON.stringify(keys)}; powerPreference ${w.powerPreference}; adapter ${info}`);
  } catch (e) {
    log(`# adapter info failed: ${errLine(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// parity against the PyTorch references (the tests' setup and bars)

const TERMS = ['loss', 'ce', 'kd', 'gradNorm'];

/** 'webgpu' or 'webgpu:low-memory' -> TrainerSession options (low-memory: train_step.onnx, in place). */
const sessionOptions = (name) => ({ ep: name.split(':')[0], lowMemory: name.endsWith(':low-memory') });

/** Runs the reference's batches as one K-step call on `ep`; metrics, initial and final parameters. */
async function runOn(ep, setup) {
  const t0 = performance.now();
  const session = await TrainerSession.open(setup.outDir, sessionOptions(ep));
  const openMs = performance.now() - t0;
  const initial = new Map([...session.parameterArrays()].map(([k, v]) => [k, Float64Array.from(v)]));
  const t1 = performance.now();
  const metrics = await session.train(setup.batches, setup.lrs, setup.hyper);
  const trainMs = performance.now() - t1;
  const final = new Map([...session.parameterArrays()].map(([k, v]) => [k, Float64Array.from(v)]));
  await session.release();
  return { metrics, initial, final, openMs, trainMs };
}

/** compareRun (the suite's bars) plus a verdict. */
function compare(run, want, meta) {
  const c = compareRun(run, want, meta);
  return { ...c, pass: c.terms.length === 0 && c.updates.length === 0 };
}

const summary = [];
const termsLine = (c) => `max rel loss ${fmt(c.worstTerm.loss)} ce ${fmt(c.worstTerm.ce)} kd ${fmt(c.worstTerm.kd)} grad_norm ${fmt(c.worstTerm.gradNorm)}`;

function printCompare(label, c) {
  log(`  ${label}: ${c.pass ? 'PASS' : 'FAIL'}  ${termsLine(c)}  | update rel L2 max ${fmt(c.worstUpdate.rel)} (${c.worstUpdate.name})`);
  const bad = [...c.terms, ...c.updates];
  for (const b of bad.slice(0, 8)) log(`      ${b}`);
  if (bad.length > 8) log(`      ... ${bad.length - 8} more`);
}

async function parity() {
  const files = fs.readdirSync(path.join(MODELS, 'steps')).filter((f) => f.endsWith('.ref.safetensors')).sort();
  const chosen = args.refs ? files.filter((f) => args.refs.some((r) => f.startsWith(r))) : files;
  for (const file of chosen) {
    log(`\n## parity ${file}`);
    let setup;
    try {
      setup = await loadStepReference(MODELS, file, tmp);
    } catch (e) {
      log(`  setup failed: ${errLine(e)}`);
      continue;
    }
    const { meta } = setup;
    log(`  task ${meta.task}, ${meta.optimizer.name} lr ${meta.optimizer.lr} wd ${meta.optimizer.weight_decay} max_norm ${meta.optimizer.max_norm}, alpha ${meta.alpha}, T ${meta.T}, ${meta.steps} steps, batch [${setup.batches[0].input_ids.dims}]`);
    const runs = {};
    for (const ep of args.eps) {
      try {
        runs[ep] = await runOn(ep, setup);
        log(`  ${ep}: open ${runs[ep].openMs.toFixed(0)} ms, one ${meta.steps}-step call ${runs[ep].trainMs.toFixed(0)} ms`);
      } catch (e) {
        log(`  ${ep}: ERROR ${errLine(e)}`);
        summary.push(`${file} ${ep}: ERROR ${String(e?.message ?? e).split('\n')[0]}`);
      }
    }
    const anyRun = Object.values(runs)[0];
    if (!anyRun) continue;
    const want = referenceExpected(setup);
    const names = ['pytorch', ...Object.keys(runs)];
    log(`  step | ${names.map((n) => `${n}: loss, ce, kd, grad_norm`.padEnd(55)).join(' | ')}`);
    for (let k = 0; k < meta.steps; k++) {
      const cols = [want.metrics[k], ...Object.values(runs).map((r) => r.metrics[k])];
      log(`  ${String(k).padStart(4)} | ${cols.map((m) => TERMS.map((t) => m[t].toPrecision(8).padStart(13)).join(' ').padEnd(55)).join(' | ')}`);
    }
    for (const [ep, run] of Object.entries(runs)) {
      const c = compare(run, want, meta);
      printCompare(`${ep} vs PyTorch`, c);
      summary.push(`${file} ${ep} vs PyTorch: ${c.pass ? 'PASS' : 'FAIL'} (${termsLine(c)}, update rel L2 max ${fmt(c.worstUpdate.rel)})`);
    }
    if (runs.cpu) {
      for (const [ep, run] of Object.entries(runs)) {
        if (ep === 'cpu') continue;
        const c = compare(run, runs.cpu, meta);
        printCompare(`${ep} vs cpu`, c);
        summary.push(`${file} ${ep} vs cpu: ${c.pass ? 'within the bars' : 'OUTSIDE the bars'} (${termsLine(c)}, update rel L2 max ${fmt(c.worstUpdate.rel)})`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// placement (which nodes each EP got)

function placement(modelPath, label) {
  for (const ep of args.eps) {
    if (ep === 'cpu' || ep.includes(':')) continue;
    log(`\n## placement ${label} on ${ep}`);
    const r = spawnSync(process.execPath, [SELF, '--placement-child', ep, modelPath], { encoding: 'utf8', maxBuffer: 1 << 30, timeout: 120_000 });
    const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    if (r.error) log(`  child error: ${r.error.message}`);
    fs.writeFileSync(path.join(process.env.OUT ?? tmp, `placement-${label}-${ep}.log`.replace(/[^A-Za-z0-9._-]/g, '_')), text.slice(0, 15 * 2 ** 20));
    const lines = text.split('\n');
    // warnings, errors and adapter lines (not the verbose config dump)
    const notes = [...new Set(lines.filter((l) => /PLACEMENT-CHILD|\[W:|\[E:|^Warning|^Error|adapter|Adapter|Vulkan|vulkan|Context is created/.test(l) && !/ParseEpConfig|ParseWebGpuContextConfig/.test(l)))];
    for (const l of notes.slice(0, 30)) log(`  | ${l.replace(/\x1b\[[0-9;]*m/g, '').slice(0, 400)}`);
    // "Node(s) placed on [EP]. Number of nodes: N" then "   OpType (name)" per node
    const byEp = new Map();
    let cur = null;
    for (const l of lines) {
      const h = /Node\(s\) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(l);
      if (h) {
        cur = h[1];
        if (!byEp.has(cur)) byEp.set(cur, []);
        log(`  ${h[1]}: ${h[2]} nodes`);
        continue;
      }
      const n = /VerifyEachNodeIsAssignedToAnEp\]\s{3}(\S+) \((.*)\)\s*$/.exec(l);
      if (n && cur) byEp.get(cur).push({ op: n[1], name: n[2] });
      else if (!/VerifyEachNodeIsAssignedToAnEp/.test(l)) cur = null;
    }
    const cpu = byEp.get('CPUExecutionProvider') ?? [];
    if (cpu.length) {
      const count = (xs) => JSON.stringify(Object.fromEntries([...xs.reduce((m, x) => m.set(x.op, (m.get(x.op) ?? 0) + 1), new Map())].sort((x, y) => y[1] - x[1])));
      const model = cpu.filter((x) => x.name.startsWith('/'));
      const ours = cpu.filter((x) => !x.name.startsWith('/'));
      log(`  on CPU, student-export nodes (/...), by op: ${count(model)}`);
      log(`  on CPU, nodes onnx-distill generated (loss, grad, optimizer, loop), by op: ${count(ours)}`);
      log(`    ${ours.map((x) => `${x.op}(${x.name})`).join(' ')}`);
    }
    const notFound = [...new Set(lines.map((l) => /kernel not found in registries for Op type: (\S+)/.exec(l)?.[1]).filter(Boolean))];
    if (notFound.length) log(`  op types the ${ep} EP had no kernel for (for these nodes' dtypes): ${notFound.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// timing

function randomBatches(n, B, S, vocab, classes, seed) {
  const r = mulberry32(seed);
  const out = [];
  for (let k = 0; k < n; k++) {
    const ids = new BigInt64Array(B * S);
    const mask = new BigInt64Array(B * S);
    for (let b = 0; b < B; b++) {
      const len = S - Math.floor(r() * (S / 4)); // some right padding
      for (let s = 0; s < S; s++) {
        ids[b * S + s] = s < len ? BigInt(1 + Math.floor(r() * (vocab - 1))) : 0n;
        mask[b * S + s] = s < len ? 1n : 0n;
      }
    }
    const labels = BigInt64Array.from({ length: B }, () => BigInt(Math.floor(r() * classes)));
    const tl = Float32Array.from({ length: B * classes }, () => (r() - 0.5) * 4);
    out.push({
      input_ids: new ort.Tensor('int64', ids, [B, S]),
      attention_mask: new ort.Tensor('int64', mask, [B, S]),
      labels: new ort.Tensor('int64', labels, [B]),
      teacher_logits: new ort.Tensor('float32', tl, [B, classes]),
    });
  }
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const timings = [];

/**
 * Times `student` on every EP; returns, per EP, the parameters after the first K-step call (from the initial
 * state, on the same seeded batches), so builds with different options can be compared with each other.
 */
async function timeModel(label, student, teacher, vocab, buildOptions = {}) {
  const outDir = fs.mkdtempSync(path.join(tmp, `timing-${label}-`));
  const t0 = performance.now();
  buildTrainingArtifacts({ student, teacher, task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: 0.01 }, outDir, ...buildOptions });
  const afterFirstCall = new Map();
  log(`\n## timing ${label}: batch ${args.batch} x seq ${args.seq}, K=${args.k} steps per call, ${args.warmup} warm-up calls, median of ${args.calls} (AdamW, clip 1, built in ${(performance.now() - t0).toFixed(0)} ms)`);
  const batches = randomBatches(args.k, args.batch, args.seq, vocab, 2, 11);
  const lrs = batches.map(() => 5e-5);
  const hyper = { alpha: 0.5, temperature: 2, maxGradNorm: 1 };
  for (const ep of args.eps) {
    if (elapsedS() > args.budgetS) {
      log(`  ${ep}: skipped (time budget of ${args.budgetS} s spent)`);
      continue;
    }
    try {
      const o0 = performance.now();
      const s = await TrainerSession.open(outDir, sessionOptions(ep));
      const openMs = performance.now() - o0;
      const callMs = [];
      let first;
      for (let c = 0; c < args.warmup + args.calls; c++) {
        const c0 = performance.now();
        const m = await s.train(batches, lrs, hyper);
        callMs.push(performance.now() - c0);
        if (c === 0) {
          first = m[0];
          afterFirstCall.set(ep, new Map([...s.parameterArrays()].map(([n, a]) => [n, Float64Array.from(a)])));
        }
        if (elapsedS() > args.budgetS + 60) break;
      }
      const timed = callMs.slice(args.warmup);
      const stepMs = timed.length ? median(timed) / args.k : NaN;
      // K = 1: one step per call (the loop model with a single iteration), same warm-up and median
      const one = [];
      for (let c = 0; c < args.warmup + args.calls && elapsedS() < args.budgetS + 60; c++) {
        const c0 = performance.now();
        await s.train(batches.slice(0, 1), lrs.slice(0, 1), hyper);
        one.push(performance.now() - c0);
      }
      const oneMs = one.length > args.warmup ? median(one.slice(args.warmup)) : NaN;
      log(`  ${ep}: open ${openMs.toFixed(0)} ms; call ms ${callMs.map((x) => x.toFixed(0)).join(', ')}; per step ${stepMs.toFixed(2)} ms (${(args.batch / stepMs * 1000).toFixed(0)} samples/s); first step loss ${first?.loss.toFixed(6)} grad_norm ${first?.gradNorm.toFixed(6)}`);
      log(`  ${ep}: K=1 call ms ${one.map((x) => x.toFixed(1)).join(', ')}; per step at K=1 ${oneMs.toFixed(2)} ms`);
      if (ep === 'webgpu') adapterInfo();
      timings.push(`${label} ${ep}: first-step grad_norm ${first?.gradNorm.toFixed(6)}; ${stepMs.toFixed(2)} ms/step at K=${args.k}, ${oneMs.toFixed(2)} ms/step at K=1 (B ${args.batch}, S ${args.seq}; open ${openMs.toFixed(0)} ms, first call ${callMs[0].toFixed(0)} ms)`);
      await s.release();
    } catch (e) {
      log(`  ${ep}: ERROR ${errLine(e)}`);
      timings.push(`${label} ${ep}: ERROR ${String(e?.message ?? e).split('\n')[0]}`);
    }
  }
  // The first step once more on the CPU EP with one intra-op thread: a reference free of thread races for the
  // first-step grad_norm printed above (onnxruntime's CPU ScatterND with reduction="add", which the Gather
  // gradient used before, raced when indices repeat: scripts/gpu/scatter-check.mjs).
  try {
    const s1 = await TrainerSession.open(outDir, { ep: 'cpu', threads: 1 });
    const m = (await s1.train(batches.slice(0, 1), lrs.slice(0, 1), hyper))[0];
    log(`  cpu, 1 thread (race-free reference): first step loss ${m.loss.toFixed(6)} grad_norm ${m.gradNorm.toFixed(6)}`);
    timings.push(`${label} first-step grad_norm with cpu 1 thread: ${m.gradNorm.toFixed(6)}`);
    await s1.release();
  } catch (e) {
    log(`  cpu 1 thread: ERROR ${errLine(e)}`);
  }
  return afterFirstCall;
}

/** Worst relative L2 difference over the parameters two runs share. */
function worstRelL2(a, b) {
  let worst = { name: '', rel: 0 };
  for (const [name, x] of a) {
    const y = b.get(name);
    if (!y) continue;
    let d = 0;
    let n = 0;
    for (let i = 0; i < x.length; i++) {
      d += (x[i] - y[i]) ** 2;
      n += y[i] ** 2;
    }
    const rel = Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-30);
    if (!(rel <= worst.rel) || !worst.name) worst = { name, rel };
  }
  return worst;
}

// ---------------------------------------------------------------------------------------------------------

await parity();
if (args.placement) {
  // the AdamW BERT train loop (as the parity built it) for the placement log
  const dir = fs.mkdtempSync(path.join(tmp, 'placement-'));
  try {
    buildTrainingArtifacts({ student: path.join(MODELS, 'bert-student', 'model.onnx'), teacher: path.join(MODELS, 'bert-teacher', 'model.onnx'), task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: 0.01 }, outDir: dir });
    placement(path.join(dir, 'train_loop.onnx'), 'bert-adamw-loop');
    placement(path.join(dir, 'train_step.onnx'), 'bert-adamw-step');
  } catch (e) {
    log(`placement failed: ${errLine(e)}`);
  }
}
if (args.timing) {
  await timeModel('fixture-bert-student', path.join(MODELS, 'bert-student', 'model.onnx'), path.join(MODELS, 'bert-teacher', 'model.onnx'), 2000);
  if (args.small) {
    const student = path.join(args.small, 'model.onnx');
    if (fs.existsSync(student)) {
      // chunked optimizer updates (the library default: a Scan over the word embedding) against plain ones
      // (what `distill train --ep webgpu` builds); after the same first call they must agree
      const plain = await timeModel('bench-small-student', student, student, 30522, { chunkedUpdate: false });
      const chunked = await timeModel('bench-small-student-chunked', student, student, 30522, { chunkedUpdate: true });
      if (args.placement) {
        const dir = fs.mkdtempSync(path.join(tmp, 'placement-chunked-'));
        buildTrainingArtifacts({ student, teacher: student, task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: 0.01 }, outDir: dir });
        placement(path.join(dir, 'train_loop.onnx'), 'small-chunked-loop');
      }
      for (const [ep, p] of plain) {
        const c = chunked.get(ep);
        if (!c) continue;
        const w = worstRelL2(c, p);
        const line = `bench-small-student ${ep}: chunked vs plain after the first ${args.k}-step call, worst parameter rel L2 ${fmt(w.rel)} (${w.name})`;
        log(`  ${line}`);
        summary.push(line);
      }
    } else log(`\n## timing bench-small-student: ${student} does not exist (skipped)`);
  }
}

log('\n## summary');
for (const l of summary) log(`  ${l}`);
for (const l of timings) log(`  timing ${l}`);
log(`  total ${elapsedS().toFixed(1)} s`);
fs.rmSync(tmp, { recursive: true, force: true });
