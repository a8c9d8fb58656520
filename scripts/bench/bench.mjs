#!/usr/bin/env node
// Side-by-side benchmark: the same distillation (BERT teacher -> BERT student, seq-cls, KD + CE, AdamW,
// clipping) in onnx-distill (onnxruntime-node) and in PyTorch (scripts/bench/bench_torch.py, eager and
// torch.compile). docs/PERFORMANCE.md has the results, the method and the FLOP formula.
//
//   python3 scripts/bench/make_bench_models.py small|base          # once: .bench/<config>/{teacher,student}
//   npm run bench -- [--config small|base] [--steps N] [--k K] [--batch B] [--seq S]
//                    [--batches-per-epoch E] [--torch-steps N] [--skip-torch] [--no-compile] [--profile]
//                    [--no-low-memory] [--wait-idle SECONDS] [--retries N]
//   npm run bench -- --config small|base --table   # the last run's table and targets again (results.json)
//
// Every phase runs in its own child process, so each peak RSS is that phase's alone, after waiting for
// idle CPUs; a phase during which other processes took >= 10% of the CPUs is measured again:
//   build    buildTrainingArtifacts(student, teacher) into .bench/<config>/artifacts (timed, twice); before the
//            low-memory phase, once and untimed, into artifacts-low-memory without chunked updates (what
//            `distill train --low-memory` builds)
//   matmul   ORT's MatMul GFLOP/s on this CPU (1024^3 and 2048^3, the same session options, 2 threads)
//   train    per step: the teacher's ONNX session on each batch + one TrainerSession.train call per K
//            batches (warm-up calls until they stop faulting in memory, then the median over calls of
//            call time / K); the same with
//            K = 1; then end to end: 3 epochs of E batches through TeacherLogits (the trainer's teacher
//            cache: the teacher runs in epoch 1 only) and TrainerSession, as train() runs them without
//            an evaluation set: the trainer's default steps per call, across epoch ends
//   train-low-memory  the same with TrainerSession's low-memory mode (the split step: a gradient call per
//            step, then chunked updates in place), the teacher without ORT's arena and the process under
//            the malloc setting `distill train --low-memory` starts itself with (src/cli/relaunch.ts; set
//            MALLOC_MMAP_THRESHOLD_=4194304 yourself when running this phase alone with --phase), for its
//            peak RSS and speed (skipped with --no-low-memory)
//   profile  (--profile) ORT profiling of one train_loop call and one teacher call, by op and by
//            forward / backward / loss+optimizer; the cost of fetching parameters and state
//   torch    scripts/bench/bench_torch.py, eager (+ torch.mm GFLOP/s) and --compile, when python3 has torch
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianRunMs } from './timing.mjs';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..', '..');
const lib = (p) => path.join(ROOT, 'dist', 'src', p);
const THREADS = 2;
const MAX_WARMUP = 8;
const HYPER = { alpha: 0.5, temperature: 2, maxGradNorm: 1 };
const LR = 5e-5;
const WEIGHT_DECAY = 0.01;
const DEFAULTS = {
  small: { batch: 32, seq: 128, steps: 24, k: 8, batchesPerEpoch: 20, torchSteps: 8 },
  base: { batch: 8, seq: 128, steps: 12, k: 4, batchesPerEpoch: 4, torchSteps: 8 },
};

// ---------------------------------------------------------------------------------------------------------
// arguments

function parseArgs(argv) {
  const a = { config: 'small', skipTorch: false, compile: true, profile: false, lowMemoryPhase: true, waitIdle: 120, retries: 1 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--config') a.config = next();
    else if (k === '--steps') a.steps = Number(next());
    else if (k === '--torch-steps') a.torchSteps = Number(next());
    else if (k === '--k') a.k = Number(next());
    else if (k === '--batch') a.batch = Number(next());
    else if (k === '--seq') a.seq = Number(next());
    else if (k === '--batches-per-epoch') a.batchesPerEpoch = Number(next());
    else if (k === '--skip-torch') a.skipTorch = true;
    else if (k === '--no-compile') a.compile = false;
    else if (k === '--profile') a.profile = true;
    else if (k === '--no-low-memory') a.lowMemoryPhase = false;
    else if (k === '--phase') a.phase = next();
    else if (k === '--wait-idle') a.waitIdle = Number(next());
    else if (k === '--retries') a.retries = Number(next());
    else if (k === '--table') a.tableOnly = true;
    else if (k === '--help' || k === '-h') {
      const lines = fs.readFileSync(SELF, 'utf8').split('\n');
      console.log(lines.slice(1, lines.findIndex((l) => l.startsWith('import'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!DEFAULTS[a.config]) throw new Error(`--config must be small or base, got ${a.config}`);
  const d = DEFAULTS[a.config];
  for (const key of Object.keys(d)) a[key] ??= d[key];
  a.k = Math.max(1, Math.min(a.k, a.steps));
  a.dir = path.join(ROOT, '.bench', a.config);
  a.teacher = path.join(a.dir, 'teacher', 'model.onnx');
  a.student = path.join(a.dir, 'student', 'model.onnx');
  a.artifacts = path.join(a.dir, 'artifacts');
  // What `distill train --low-memory` builds: no chunked Scans, grouped updates kept (src/train/trainer.ts).
  a.artifactsLowMemory = path.join(a.dir, 'artifacts-low-memory');
  return a;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const peakRss = () => process.resourceUsage().maxRSS * 1024;

// ---------------------------------------------------------------------------------------------------------
// the data: a 32-bit LCG shared with bench_torch.py, so both sides train on the same ids and labels

function lcg(seed) {
  let x = seed >>> 0;
  return () => (x = (Math.imul(1664525, x) + 1013904223) >>> 0);
}

async function makeBatches(n, B, S, vocab) {
  const { default: ort } = await import('onnxruntime-node');
  const out = [];
  for (let k = 0; k < n; k++) {
    const next = lcg(1234 + k);
    const ids = new BigInt64Array(B * S);
    for (let i = 0; i < ids.length; i++) ids[i] = BigInt(1 + (next() % (vocab - 1)));
    const labels = new BigInt64Array(B);
    for (let i = 0; i < B; i++) labels[i] = BigInt((next() >>> 16) & 1);
    out.push({
      input_ids: new ort.Tensor('int64', ids, [B, S]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(B * S).fill(1n), [B, S]),
      labels: new ort.Tensor('int64', labels, [B]),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// FLOPs, counted analytically (docs/PERFORMANCE.md)

function bertShape(dir) {
  const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  return { L: c.num_hidden_layers, H: c.hidden_size, I: c.intermediate_size, C: c.num_labels ?? 2, vocab: c.vocab_size };
}

/** Forward FLOPs of a BERT classifier on B x S tokens: matmuls 2*T*(4H^2 + 2HI) and attention 4*B*S^2*H per layer, plus pooler and classifier. */
function forwardFlops({ L, H, I, C }, B, S) {
  const T = B * S;
  return L * (2 * T * (4 * H * H + 2 * H * I) + 4 * B * S * S * H) + 2 * B * (H * H + H * C);
}

/**
 * Forward FLOPs a narrowed classifier leaves out (src/ir/narrow-rows.ts) for the S - 1 positions besides
 * [CLS] in its last layer: the output projection and the feed-forward block; in the student also the query
 * projection and that query's scores and context (the teacher keeps its attention whole).
 */
function narrowedAwayFlops({ H, I }, B, S, attention) {
  return 2 * B * (S - 1) * (H * H + 2 * H * I + (attention ? H * H + 2 * S * H : 0));
}

function stepFlops(a) {
  const [sm, tm] = [bertShape(path.dirname(a.student)), bertShape(path.dirname(a.teacher))];
  const s = forwardFlops(sm, a.batch, a.seq);
  const t = forwardFlops(tm, a.batch, a.seq);
  const [sSkip, tSkip] = [narrowedAwayFlops(sm, a.batch, a.seq, true), narrowedAwayFlops(tm, a.batch, a.seq, false)];
  // student forward + backward (2x forward) + the teacher's forward; loss and AdamW are O(parameters).
  // `step` is the model's count, which PyTorch executes in full; `executed` what our narrowed graphs run.
  return { student_train: 3 * s, teacher_forward: t, step: 3 * s + t, executed: 3 * (s - sSkip) + (t - tSkip) };
}

// ---------------------------------------------------------------------------------------------------------
// phases (each in its own process)

/** The bench's training artifacts (`extra`: build options beyond the shared ones) into `outDir`. */
async function buildArtifacts(a, outDir, extra = {}) {
  const { buildTrainingArtifacts } = await import(lib('step/artifacts.js'));
  return buildTrainingArtifacts({
    student: a.student, teacher: a.teacher, task: 'seq-cls', optimizer: 'adamw',
    // bench_torch.py's torch.optim.AdamW decays every parameter: the same work on both sides.
    optimizerSettings: { weightDecay: WEIGHT_DECAY }, weightDecayGroups: 'all', outDir, ...extra,
  });
}

async function phaseBuild(a) {
  await import(lib('step/artifacts.js')); // loading the modules stays out of the timing
  const t0 = performance.now();
  const manifest = await buildArtifacts(a, a.artifacts);
  const ms = performance.now() - t0;
  const bytes = fs.readdirSync(a.artifacts).reduce((n, f) => n + fs.statSync(path.join(a.artifacts, f)).size, 0);
  return { build_ms: ms, artifact_bytes: bytes, parameters: manifest.parameters.length, peak_rss_bytes: peakRss() };
}

/** Untimed, once per run: the low-memory phase's artifacts, without chunked updates. */
async function phaseBuildLowMemory(a) {
  await buildArtifacts(a, a.artifactsLowMemory, { chunkedUpdate: false });
  return {};
}

async function phaseMatmul() {
  const { default: ort } = await import('onnxruntime-node');
  const { Graph } = await import(lib('ir/graph.js'));
  const { newModel, modelToProto } = await import(lib('ir/convert.js'));
  const { encodeModel } = await import(lib('onnx/model-io.js'));
  const { DataType } = await import(lib('onnx/dtype.js'));
  const { ortSessionOptions } = await import(lib('runtime/session.js'));
  const CHAIN = 4; // Y = ((A B) B) B) B, reduced to a scalar: the one output copy is negligible
  const result = {};
  for (const n of [1024, 2048]) {
    const g = new Graph('matmul');
    const input = (name) => {
      const v = g.value(name);
      v.type = { elemType: DataType.FLOAT, shape: [n, n] };
      g.appendInputs(v);
      return v;
    };
    let x = input('A');
    const b = input('B');
    for (let i = 0; i < CHAIN; i++) {
      const y = g.value(`y${i}`);
      g.addNode('MatMul', [x, b], [y]);
      x = y;
    }
    const s = g.value('s');
    s.type = { elemType: DataType.FLOAT, shape: [] };
    g.addNode('ReduceSum', [x], [s], [{ name: 'keepdims', type: 2, i: 0 }]);
    g.setOutputs([s]);
    const session = await ort.InferenceSession.create(encodeModel(modelToProto(newModel(g, 17))), ortSessionOptions({ threads: THREADS }));
    const next = lcg(n);
    const A = new Float32Array(n * n).map(() => next() / 2 ** 32 - 0.5);
    const B = new Float32Array(n * n).map(() => (next() / 2 ** 32 - 0.5) * (3.4 / Math.sqrt(n)));
    const feeds = { A: new ort.Tensor('float32', A, [n, n]), B: new ort.Tensor('float32', B, [n, n]) };
    const ms = await medianRunMs(session, feeds, { runs: 5, warmup: 2 });
    await session.release();
    result[n] = (CHAIN * 2 * n ** 3) / (ms / 1e3) / 1e9;
  }
  return { matmul_gflops: result, peak_gflops: Math.max(...Object.values(result)) };
}

async function phaseTrain(a) {
  const { default: ort } = await import('onnxruntime-node');
  const { TrainerSession } = await import(lib('runtime/trainer-session.js'));
  const { TeacherLogits, createTeacherSession } = await import(lib('train/teacher.js'));
  const { TRAIN_DEFAULTS } = await import(lib('train/options.js'));
  const opts = { ep: 'cpu', threads: THREADS };
  const vocab = bertShape(path.dirname(a.student)).vocab;
  const batches = await makeBatches(a.batchesPerEpoch, a.batch, a.seq, vocab);
  const batchAt = (i) => batches[i % batches.length];
  const log = (m) => process.stderr.write(`[bench:train] ${m}\n`);
  const rss = {};
  const peaks = {};
  const mark = (name) => {
    rss[name] = process.memoryUsage().rss;
    peaks[name] = peakRss();
  };
  mark('start');

  let t0 = performance.now();
  const session = await TrainerSession.open(a.lowMemory ? a.artifactsLowMemory : a.artifacts, { ...opts, lowMemory: a.lowMemory });
  const openMs = performance.now() - t0;
  mark('trainer_session_open');
  t0 = performance.now();
  // As `distill train` opens it: in low-memory mode without ORT's arena (src/train/trainer.ts).
  const teacherOpts = { ...opts, memArena: !a.lowMemory };
  const teacher = await createTeacherSession(a.teacher, teacherOpts);
  const teacherOpenMs = performance.now() - t0;
  mark('teacher_session_open');
  const out = { open_ms: openMs, teacher_open_ms: teacherOpenMs, k: a.k };

  // one call of K steps: the teacher on each batch, then TrainerSession.train
  let cursor = 0;
  const call = async (K) => {
    const t = performance.now();
    const group = [];
    let teacherMs = 0;
    for (let i = 0; i < K; i++) {
      const b = batchAt(cursor++);
      const tt = performance.now();
      const logits = (await teacher.run({ input_ids: b.input_ids, attention_mask: b.attention_mask })).logits;
      teacherMs += performance.now() - tt;
      group.push({ ...b, teacher_logits: logits });
    }
    const tt = performance.now();
    const metrics = await session.train(group, new Array(K).fill(LR), HYPER);
    const trainMs = performance.now() - tt;
    return { ms: performance.now() - t, teacherMs, trainMs, metrics };
  };

  // per step, K steps per call. Warm-up calls run until the process stops faulting in new memory. The first
  // call grows ORT's arena (about 1.1 M minor page faults on base). The next few still fault in memory that
  // ORT and the C allocator then keep reusing (base: about 200 k, 150 k, 70 k, 45 k, then under 1 k), and each
  // of those calls is up to 1.5x a steady one. Measuring starts after the first call that faults less than 2 %
  // as much as the first call (at most MAX_WARMUP calls), so that, like PyTorch's side after its warm-up
  // steps, the median is of steady calls. Then ceil(N / K) measured calls.
  const faults = () => process.resourceUsage().minorPageFault;
  const warmUp = async (K, onFirst) => {
    const warmup = [];
    for (let w = 0; w < MAX_WARMUP; w++) {
      const f = faults();
      const r = await call(K);
      warmup.push({ ms: r.ms, page_faults: faults() - f });
      if (w === 0) onFirst?.(r);
      if (w >= 1 && warmup[w].page_faults <= 0.02 * warmup[0].page_faults) break;
    }
    return warmup;
  };
  const warmup = await warmUp(a.k, (r) => {
    out.loss0 = r.metrics[0];
    mark('after_first_call');
  });
  out.warmup_calls = warmup;
  log(`warm-up calls of ${a.k} steps: ${warmup.map((w) => `${w.ms.toFixed(0)} ms (${w.page_faults} page faults)`).join(', ')}; loss0 ${out.loss0.loss.toFixed(6)}`);
  const calls = [];
  for (let c = 0; c < Math.ceil(a.steps / a.k); c++) {
    const f = faults();
    const r = await call(a.k);
    calls.push(r);
    log(`call ${c + 1}: ${(r.ms / a.k).toFixed(1)} ms/step (teacher ${(r.teacherMs / a.k).toFixed(1)}, train ${(r.trainMs / a.k).toFixed(1)}; ${faults() - f} page faults)`);
  }
  out.steps = calls.length * a.k;
  out.step_ms = median(calls.map((r) => r.ms / a.k));
  out.teacher_ms = median(calls.map((r) => r.teacherMs / a.k));
  out.train_ms = median(calls.map((r) => r.trainMs / a.k));
  out.samples_per_s_step = a.batch / (out.step_ms / 1e3);
  mark('after_per_step');

  // per step, one step per call (every call copies all parameters and AdamW state out of ORT); in
  // low-memory mode every step is its own call already. A new K is a new input shape, for which ORT plans its
  // memory afresh, so K = 1 gets a warm-up of its own, by the same rule (before commit 2f7bde5: one call).
  if (!a.lowMemory) {
    out.k1_warmup_calls = await warmUp(1);
    const ones = [];
    for (let c = 0; c < Math.min(4, a.steps); c++) ones.push(await call(1));
    out.k1 = { steps: ones.length, step_ms: median(ones.map((r) => r.ms)), train_ms: median(ones.map((r) => r.trainMs)) };
    out.k1.samples_per_s_step = a.batch / (out.k1.step_ms / 1e3);
    log(`K=1: ${out.k1.step_ms.toFixed(1)} ms/step (train call ${out.k1.train_ms.toFixed(1)})`);
    mark('after_k1');
  }
  await teacher.release();
  mark('after_teacher_release');

  // end to end: 3 epochs of E batches, teacher logits through the trainer's cache (epoch 1 only)
  const EPOCHS = 3;
  const cache = TeacherLogits.open(a.teacher, false, teacherOpts);
  // Loading the teacher stays out of the timing, as on PyTorch's side, whose models are loaded before.
  await cache.prepare();
  t0 = performance.now();
  let samples = 0;
  const epochMs = [];
  // As train() runs without an evaluation set: calls of the trainer's default K steps that carry on across
  // epoch ends, the teacher cache saved at each epoch end, one last flush.
  let pending = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const f = process.resourceUsage().minorPageFault;
    const t = performance.now();
    await session.train(pending, new Array(pending.length).fill(LR), HYPER);
    log(`  e2e call of ${pending.length} steps: ${(performance.now() - t).toFixed(0)} ms, ${process.resourceUsage().minorPageFault - f} page faults`);
    pending = [];
  };
  for (let e = 0; e < EPOCHS; e++) {
    const te = performance.now();
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i];
      const lines = Array.from({ length: a.batch }, (_, r) => i * a.batch + r);
      pending.push({ ...b, teacher_logits: await cache.forBatch(b, lines) });
      samples += a.batch;
      if (pending.length === TRAIN_DEFAULTS.stepsPerCall) await flush();
    }
    if (e === EPOCHS - 1) await flush();
    cache.save();
    epochMs.push(performance.now() - te);
  }
  await cache.release();
  const e2eMs = performance.now() - t0;
  out.e2e = { epochs: EPOCHS, batches_per_epoch: batches.length, seconds: e2eMs / 1e3, samples_per_s: samples / (e2eMs / 1e3), epoch_ms: epochMs };
  log(`end to end: ${(e2eMs / 1e3).toFixed(1)} s (epochs ${epochMs.map((x) => (x / 1e3).toFixed(1)).join(' / ')} s)`);
  mark('after_e2e');
  out.rss_bytes = rss;
  out.peak_rss_at = peaks;
  out.peak_rss_bytes = peakRss();
  await session.release();
  void ort;
  return out;
}

/** Sums ORT profile 'Node' events of the last model_run by op type and by part of the graph. */
function summarizeProfile(file, classify) {
  const events = JSON.parse(fs.readFileSync(file, 'utf8'));
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const last = runs[runs.length - 1];
  // The Loop node's own event spans its whole body: count the body's nodes, not the Loop. A Scan (the
  // chunked optimizer updates) counts as its own overhead only: its span minus its body's kernels.
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name !== 'Loop'
    && (!last || (e.ts >= last.ts && e.ts <= last.ts + last.dur)));
  for (const [i, scan] of nodes.entries()) {
    if (scan.args?.op_name !== 'Scan') continue;
    const inside = nodes.filter((e) => e !== scan && e.ts >= scan.ts && e.ts + e.dur <= scan.ts + scan.dur).reduce((n, e) => n + e.dur, 0);
    nodes[i] = { ...scan, dur: Math.max(0, scan.dur - inside) };
  }
  const byOp = {};
  const byPart = {};
  const byNode = {};
  const count = {};
  let total = 0;
  for (const e of nodes) {
    const op = e.args?.op_name ?? '?';
    const node = e.name.slice(0, -'_kernel_time'.length);
    const part = classify(node);
    byOp[op] = (byOp[op] ?? 0) + e.dur;
    byPart[part] = (byPart[part] ?? 0) + e.dur;
    count[part] = (count[part] ?? 0) + 1;
    const key = `${part} ${op}`;
    byNode[key] = (byNode[key] ?? 0) + e.dur;
    total += e.dur;
  }
  const top = (o, n) => Object.entries(o).sort((x, y) => y[1] - x[1]).slice(0, n).map(([k, us]) => ({ name: k, ms: us / 1e3, share: us / total, ...(count[k] ? { kernels: count[k] } : {}) }));
  return { run_ms: last ? last.dur / 1e3 : null, kernel_ms: total / 1e3, kernels: nodes.length, by_part: top(byPart, 10), by_op: top(byOp, 14), by_part_op: top(byNode, 20) };
}

async function phaseProfile(a) {
  const { default: ort } = await import('onnxruntime-node');
  const { readManifest } = await import(lib('step/read-manifest.js'));
  const { stackBatches } = await import(lib('runtime/batch.js'));
  const { readSafetensors } = await import(lib('export/safetensors.js'));
  const manifest = readManifest(a.artifacts);
  const vocab = bertShape(path.dirname(a.student)).vocab;
  const batches = await makeBatches(a.k, a.batch, a.seq, vocab);
  const profDir = path.join(a.dir, 'profile');
  fs.rmSync(profDir, { recursive: true, force: true });
  fs.mkdirSync(profDir, { recursive: true });
  const { TRAINING_DISABLED_OPTIMIZERS, ortSessionOptions } = await import(lib('runtime/session.js'));
  // The sessions' options as createSession and TrainerSession set them (the trainer's: ORT's CSE off).
  const optionsFor = (training, externalDataFolder) => ortSessionOptions({ threads: THREADS, disabledOptimizers: training ? TRAINING_DISABLED_OPTIMIZERS : [], externalDataFolder });
  const profiled = async (model, name, training, externalDataFolder) => {
    const base = optionsFor(training, externalDataFolder);
    const cwd = process.cwd();
    process.chdir(profDir); // the profile file is written relative to the working directory
    try {
      return await ort.InferenceSession.create(model, { ...base, enableProfiling: true, profileFilePrefix: name });
    } finally {
      process.chdir(cwd);
    }
  };
  const endProfile = (session, name) => {
    const cwd = process.cwd();
    process.chdir(profDir);
    try {
      session.endProfiling();
    } finally {
      process.chdir(cwd);
    }
    const f = fs.readdirSync(profDir).filter((x) => x.startsWith(name) && x.endsWith('.json')).sort().pop();
    return path.join(profDir, f);
  };

  // teacher
  const { teacherModel } = await import(lib('train/teacher.js'));
  const teacherGraph = teacherModel(a.teacher);
  const teacher = await profiled(teacherGraph.bytes, 'teacher', false, teacherGraph.externalDataFolder);
  const teacherLogits = [];
  for (const b of batches) teacherLogits.push((await teacher.run({ input_ids: b.input_ids, attention_mask: b.attention_mask })).logits);
  await teacher.run({ input_ids: batches[0].input_ids, attention_mask: batches[0].attention_mask });
  const teacherProfile = summarizeProfile(endProfile(teacher, 'teacher'), () => 'teacher forward');
  await teacher.release();

  // the K-step loop, fed exactly as TrainerSession.train feeds it
  const loop = await profiled(path.join(a.artifacts, manifest.models.train_loop), 'train_loop', true);
  const initial = readSafetensors(path.join(a.artifacts, manifest.initial_state));
  const feeds = stackBatches(batches.map((b, i) => ({ ...b, teacher_logits: teacherLogits[i] })), manifest.batch);
  const f32 = (data, dims) => new ort.Tensor('float32', Float32Array.from(data), dims);
  feeds.lr = f32(new Array(a.k).fill(LR), [a.k]);
  feeds.step = f32([0], []);
  feeds.alpha = f32([HYPER.alpha], []);
  feeds.temperature = f32([HYPER.temperature], []);
  feeds.max_grad_norm = f32([HYPER.maxGradNorm], []);
  let paramBytes = 0;
  for (const p of manifest.parameters) {
    const t = initial.get(p.name);
    feeds[p.name] = new ort.Tensor('float32', new Float32Array(new Uint8Array(t.bytes).buffer), p.ioShape ?? p.shape);
    paramBytes += t.bytes.length;
  }
  for (const st of manifest.state) feeds[st.name] = new ort.Tensor('float32', new Float32Array(st.shape.reduce((x, y) => x * y, 1)), st.ioShape ?? st.shape);
  const metricsOnly = manifest.metrics;
  const timeRun = async (fetches) => {
    const t0 = performance.now();
    await (fetches ? loop.run(feeds, fetches) : loop.run(feeds));
    return performance.now() - t0;
  };
  await timeRun(metricsOnly); // warm-up
  await timeRun(); // the profiled run (last model_run): what TrainerSession.train does
  const loopProfile = summarizeProfile(endProfile(loop, 'train_loop'), (node) => {
    // generated nodes: grad/ (backward), step/ (loss, clipping, AdamW), loop/ (slicing the stacked inputs);
    // the rest are the student's own (forward) nodes and ORT's fusions of them
    const n = node.startsWith('loop/') ? node.slice(5) : node;
    if (n.startsWith('grad/')) return 'backward';
    if (n.startsWith('step/')) return 'loss+clip+AdamW';
    if (node.startsWith('loop/')) return 'loop plumbing';
    return 'forward';
  });
  await loop.release();

  // the cost of fetching parameters and state: full fetch vs metrics only, unprofiled session
  const plain = await ort.InferenceSession.create(path.join(a.artifacts, manifest.models.train_loop), optionsFor(true));
  const run = async (fetches) => {
    const t0 = performance.now();
    await (fetches ? plain.run(feeds, fetches) : plain.run(feeds));
    return performance.now() - t0;
  };
  await run(metricsOnly);
  const full = [];
  const only = [];
  for (let r = 0; r < 2; r++) {
    full.push(await run());
    only.push(await run(metricsOnly));
  }
  await plain.release();
  const stackT0 = performance.now();
  stackBatches(batches.map((b, i) => ({ ...b, teacher_logits: teacherLogits[i] })), manifest.batch);
  const stackMs = performance.now() - stackT0;
  return {
    k: a.k, teacher: teacherProfile, loop: loopProfile,
    fetch: { parameter_bytes: paramBytes, state_bytes: 2 * paramBytes, call_full_ms: median(full), call_metrics_only_ms: median(only), stack_batches_ms: stackMs },
    files: fs.readdirSync(profDir).map((f) => path.join(profDir, f)),
  };
}

// ---------------------------------------------------------------------------------------------------------
// orchestration: each phase waits for an idle machine and is checked for CPU time used by other processes
// (all CPUs' busy time during the phase minus the phase's own CPU time); a contended phase is rerun

function cpuTimes() {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy: busy / 1e3, total: total / 1e3 }; // seconds
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Waits until the CPUs are idle (< 10% busy over 3 s), at most maxS seconds; returns whether they were. */
function waitIdle(maxS) {
  const until = performance.now() + maxS * 1e3;
  let said = false;
  for (;;) {
    const c0 = cpuTimes();
    sleep(3000);
    const c1 = cpuTimes();
    const busy = (c1.busy - c0.busy) / Math.max(1e-9, c1.total - c0.total);
    if (busy < 0.1) return true;
    if (performance.now() > until) {
      console.error(`[bench] warning: CPUs still ${(100 * busy).toFixed(0)}% busy after ${maxS} s; measuring anyway`);
      return false;
    }
    if (!said) console.error(`[bench] CPUs ${(100 * busy).toFixed(0)}% busy with other processes; waiting (up to ${maxS} s, --wait-idle)`);
    said = true;
  }
}

const CONTENDED = 0.1;

/** Runs fn (which returns the child's JSON with its own cpu_s), retrying while other processes took CPU time. */
function measured(a, name, fn) {
  let r = null;
  for (let attempt = 0; attempt <= a.retries; attempt++) {
    waitIdle(a.waitIdle);
    const c0 = cpuTimes();
    const t0 = performance.now();
    r = fn();
    if (!r) return r;
    const wall = (performance.now() - t0) / 1e3;
    const c1 = cpuTimes();
    const foreign = Math.max(0, c1.busy - c0.busy - (r.cpu_s ?? 0));
    r.contention = { wall_s: wall, own_cpu_s: r.cpu_s, foreign_cpu_s: foreign, foreign_share: foreign / (wall * os.cpus().length), attempt };
    if (r.contention.foreign_share < CONTENDED) return r;
    console.error(`[bench] ${name}: other processes used ${(100 * r.contention.foreign_share).toFixed(0)}% of the CPUs during the measurement${attempt < a.retries ? '; measuring again' : ''}`);
  }
  r.contended = true;
  return r;
}

function child(a, phase) {
  const args = [SELF, '--phase', phase, '--config', a.config, '--steps', String(a.steps), '--k', String(a.k),
    '--batch', String(a.batch), '--seq', String(a.seq), '--batches-per-epoch', String(a.batchesPerEpoch)];
  // The low-memory phase runs under the malloc setting `distill train --low-memory` gives itself (src/cli/relaunch.ts).
  const env = phase === 'train-low-memory' ? { ...process.env, ...a.lowMemoryEnv } : process.env;
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26, env });
  if (r.status !== 0) throw new Error(`phase ${phase} failed (exit ${r.status}): ${r.stdout.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function torchAvailable() {
  const r = spawnSync('python3', ['-c', 'import torch, transformers'], { encoding: 'utf8' });
  return r.status === 0;
}

function runTorch(a, compile) {
  const args = [path.join(ROOT, 'scripts', 'bench', 'bench_torch.py'), '--config', a.config, '--batch', String(a.batch), '--seq', String(a.seq),
    '--steps', String(a.torchSteps), '--threads', String(THREADS), '--batches-per-epoch', String(a.batchesPerEpoch)];
  if (compile) args.push('--compile');
  else args.push('--matmul');
  // torch.compile with an empty inductor cache: the compile time a first run pays
  const cache = compile ? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-inductor-')) : null;
  const env = cache ? { ...process.env, TORCHINDUCTOR_CACHE_DIR: cache } : process.env;
  const t0 = performance.now();
  const r = spawnSync('python3', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26, env });
  if (cache) fs.rmSync(cache, { recursive: true, force: true });
  if (r.status !== 0) {
    console.error(`[bench] bench_torch.py${compile ? ' --compile' : ''} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`);
    return null;
  }
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  out.wall_s = (performance.now() - t0) / 1e3;
  return out;
}

function machine() {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpu)?.[1]?.trim() ?? os.cpus()[0]?.model;
  const flags = /flags\s*:\s*(.*)/.exec(cpu)?.[1]?.split(' ') ?? [];
  const ortVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;
  return {
    nproc: os.availableParallelism(), cpu: model, avx512: flags.includes('avx512f'), mem_gb: os.totalmem() / 2 ** 30,
    node: process.version, onnxruntime_node: ortVersion, loadavg: os.loadavg(),
  };
}

const fmt = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(d));
const mb = (b) => (b ? `${(b / 2 ** 20).toFixed(0)} MB` : '-');

function table(a, r) {
  const o = r.onnx;
  const e = r.torch_eager;
  const c = r.torch_compile;
  const lm = r.onnx_low_memory;
  const fl = r.flops;
  const ratio = (x, y) => (x && y ? `${(x / y).toFixed(2)}x` : '-');
  // ratio column: ours against eager / against compile; a rate is ours / theirs, a time theirs / ours
  // (both: > 1 means onnx-distill is faster), memory ours / theirs (< 1 means onnx-distill uses less)
  const rate = (x, ye, yc) => [ratio(x, ye), ratio(x, yc)].filter((v) => v !== '-').join(' / ') || '-';
  const time = (x, ye, yc) => [ratio(ye, x), ratio(yc, x)].filter((v) => v !== '-').join(' / ') || '-';
  const gf = (ms, flops = fl.step) => (ms ? flops / (ms / 1e3) / 1e9 : null);
  const pct = (ms, flops = fl.step) => (ms ? `${fmt((100 * gf(ms, flops)) / r.matmul.peak_gflops, 0)}%` : '-');
  const studentMs = (t) => (t ? t.step_ms_median - t.teacher_ms_median : null);
  const rows = [
    ['samples/s per step (teacher fwd + student fwd/bwd/AdamW)', fmt(o.samples_per_s_step), fmt(e?.samples_per_s_step), fmt(c?.samples_per_s_step), rate(o.samples_per_s_step, e?.samples_per_s_step, c?.samples_per_s_step)],
    [`  ms per step (median; onnx-distill: K = ${o.k} steps per train call)`, fmt(o.step_ms), fmt(e?.step_ms_median), fmt(c?.step_ms_median), time(o.step_ms, e?.step_ms_median, c?.step_ms_median)],
    ['  of which teacher forward, ms', fmt(o.teacher_ms), fmt(e?.teacher_ms_median), fmt(c?.teacher_ms_median), time(o.teacher_ms, e?.teacher_ms_median, c?.teacher_ms_median)],
    ['  of which student fwd/bwd/clip/AdamW, ms', fmt(o.train_ms), fmt(studentMs(e)), fmt(studentMs(c)), time(o.train_ms, studentMs(e), studentMs(c))],
    ['samples/s per step with K = 1 (all state fetched every step)', fmt(o.k1?.samples_per_s_step), '', '', rate(o.k1?.samples_per_s_step, e?.samples_per_s_step, c?.samples_per_s_step)],
    [`end to end samples/s, 3 epochs x ${a.batchesPerEpoch} batches (ours: teacher cache)`, fmt(o.e2e.samples_per_s), fmt(e?.e2e_samples_per_s), fmt(c?.e2e_samples_per_s), rate(o.e2e.samples_per_s, e?.e2e_samples_per_s, c?.e2e_samples_per_s)],
    ['  end to end seconds', fmt(o.e2e.seconds), fmt(e?.e2e_seconds), fmt(c?.e2e_seconds), time(o.e2e.seconds, e?.e2e_seconds, c?.e2e_seconds)],
    ['peak RSS of the training process (ratio: ours / theirs)', mb(o.peak_rss_bytes), mb(e?.peak_rss_bytes), mb(c?.peak_rss_bytes), rate(o.peak_rss_bytes, e?.peak_rss_bytes, c?.peak_rss_bytes)],
    ...(lm ? [
      ['low-memory mode (`--low-memory`): peak RSS', mb(lm.peak_rss_bytes), mb(e?.peak_rss_bytes), mb(c?.peak_rss_bytes), rate(lm.peak_rss_bytes, e?.peak_rss_bytes, c?.peak_rss_bytes)],
      ['  low-memory mode: ms per step', fmt(lm.step_ms), fmt(e?.step_ms_median), fmt(c?.step_ms_median), time(lm.step_ms, e?.step_ms_median, c?.step_ms_median)],
      ['  low-memory mode: end to end seconds', fmt(lm.e2e.seconds), fmt(e?.e2e_seconds), fmt(c?.e2e_seconds), time(lm.e2e.seconds, e?.e2e_seconds, c?.e2e_seconds)],
    ] : []),
    ['step GFLOP/s (analytic FLOPs / median step time)', fmt(gf(o.step_ms)), fmt(gf(e?.step_ms_median)), fmt(gf(c?.step_ms_median)), rate(gf(o.step_ms), gf(e?.step_ms_median), gf(c?.step_ms_median))],
    ['  % of ORT MatMul peak', pct(o.step_ms), pct(e?.step_ms_median), pct(c?.step_ms_median), '-'],
    ...(fl.executed ? [
      ['step GFLOP/s counting only the FLOPs run (ours: the last layer for one position, keys and values aside)', fmt(gf(o.step_ms, fl.executed)), fmt(gf(e?.step_ms_median)), fmt(gf(c?.step_ms_median)), '-'],
      ['  % of ORT MatMul peak', pct(o.step_ms, fl.executed), pct(e?.step_ms_median), pct(c?.step_ms_median), '-'],
    ] : []),
    ['build artifacts (2 runs) / torch.compile (empty cache), s', r.build.map((b) => fmt(b.build_ms / 1e3, 2)).join(' / '), '-', fmt(c?.compile_s), '-'],
    ['loss at step 0 (same weights, same batch)', fmt(o.loss0.loss, 6), fmt(e?.loss0.loss, 6), fmt(c?.loss0.loss, 6), '-'],
  ];
  const head = ['metric', 'onnx-distill', 'PyTorch eager', 'torch.compile', 'ratio (ours / eager / compile)'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)];
  const mm = r.matmul.matmul_gflops;
  const tmm = e?.matmul_gflops;
  lines.push('', `MatMul peak, 2 threads: ORT ${fmt(mm[1024])} GFLOP/s (1024^3), ${fmt(mm[2048])} GFLOP/s (2048^3)${tmm ? `; torch.mm ${fmt(tmm[1024])} / ${fmt(tmm[2048])}` : ''}. Step FLOPs: ${fmt(fl.step / 1e9)} GFLOP (student train ${fmt(fl.student_train / 1e9)} + teacher forward ${fmt(fl.teacher_forward / 1e9)})${fl.executed ? `, of which onnx-distill runs ${fmt(fl.executed / 1e9)}` : ''}.`);
  return lines.join('\n');
}

function targets(r) {
  const o = r.onnx;
  const e = r.torch_eager;
  const c = r.torch_compile;
  // Efficiency counts the FLOPs actually run: work the narrowed graphs leave out is not credited.
  const gf = (r.flops.executed ?? r.flops.step) / (o.step_ms / 1e3) / 1e9;
  const t = [];
  const add = (name, ok, detail) => t.push({ name, met: ok, detail });
  if (e) add('samples/s per step >= 1.5x PyTorch eager', o.samples_per_s_step >= 1.5 * e.samples_per_s_step, `${(o.samples_per_s_step / e.samples_per_s_step).toFixed(2)}x`);
  if (c) add('samples/s per step ahead of torch.compile', o.samples_per_s_step > c.samples_per_s_step, `${(o.samples_per_s_step / c.samples_per_s_step).toFixed(2)}x`);
  if (e) add('end to end (3 epochs, cache) >= 2.5x PyTorch eager', o.e2e.samples_per_s >= 2.5 * e.e2e_samples_per_s, `${(o.e2e.samples_per_s / e.e2e_samples_per_s).toFixed(2)}x`);
  if (e) add('peak RSS <= 1.0x PyTorch eager', o.peak_rss_bytes <= e.peak_rss_bytes, `${(o.peak_rss_bytes / e.peak_rss_bytes).toFixed(3)}x (${mb(o.peak_rss_bytes)} vs ${mb(e.peak_rss_bytes)})`);
  const lm = r.onnx_low_memory;
  if (e && lm) add('peak RSS <= 1.0x PyTorch eager, low-memory mode', lm.peak_rss_bytes <= e.peak_rss_bytes, `${(lm.peak_rss_bytes / e.peak_rss_bytes).toFixed(3)}x (${mb(lm.peak_rss_bytes)} vs ${mb(e.peak_rss_bytes)}), at ${(e.step_ms_median / lm.step_ms).toFixed(2)}x eager's speed per step`);
  add('step GFLOP/s >= 70% of ORT MatMul peak (FLOPs run)', gf >= 0.7 * r.matmul.peak_gflops, `${((100 * gf) / r.matmul.peak_gflops).toFixed(0)}%`);
  add('build < 3 s (target stated for base)', Math.min(...r.build.map((b) => b.build_ms)) < 3000, `${(Math.min(...r.build.map((b) => b.build_ms)) / 1e3).toFixed(2)} s`);
  return t;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.phase) {
    const f = { build: phaseBuild, 'build-low-memory': phaseBuildLowMemory, matmul: phaseMatmul, train: phaseTrain, 'train-low-memory': (x) => phaseTrain({ ...x, lowMemory: true }), profile: phaseProfile }[a.phase];
    if (!f) throw new Error(`unknown phase ${a.phase}`);
    const out = await f(a);
    const cpu = process.cpuUsage();
    out.cpu_s = (cpu.user + cpu.system) / 1e6;
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  if (!fs.existsSync(a.student) || !fs.existsSync(a.teacher)) {
    console.error(`[bench] ${a.dir}: no bench models; run: python3 scripts/bench/make_bench_models.py ${a.config}`);
    process.exit(2);
  }
  if (a.tableOnly) {
    // The last run's numbers again, with this script's FLOP count and table.
    const r = JSON.parse(fs.readFileSync(path.join(a.dir, 'results.json'), 'utf8'));
    r.flops = stepFlops({ ...a, batch: r.batch, seq: r.seq });
    printResults(a, { ...r, targets: targets(r) });
    return;
  }
  a.lowMemoryEnv = (await import(lib('cli/relaunch.js'))).LOW_MEMORY_MALLOC_ENV;
  const m = machine();
  console.error(`[bench] ${a.config}: batch ${a.batch} x seq ${a.seq}, ${a.steps} steps (K = ${a.k} per call), ${a.batchesPerEpoch} batches/epoch, ${THREADS} threads; ${m.nproc} CPUs (${m.cpu}), load ${m.loadavg.map((x) => x.toFixed(2)).join(' ')}`);
  const r = { config: a.config, batch: a.batch, seq: a.seq, threads: THREADS, machine: m, flops: stepFlops(a) };
  r.build = [measured(a, 'build', () => child(a, 'build')), measured(a, 'build', () => child(a, 'build'))];
  console.error(`[bench] build: ${r.build.map((b) => `${(b.build_ms / 1e3).toFixed(2)} s`).join(', ')} (${mb(r.build[0].artifact_bytes)} written)`);
  r.matmul = measured(a, 'matmul', () => child(a, 'matmul'));
  console.error(`[bench] ORT MatMul: ${Object.entries(r.matmul.matmul_gflops).map(([n, g]) => `${n}^3 ${g.toFixed(1)} GFLOP/s`).join(', ')}`);
  r.onnx = measured(a, 'train', () => child(a, 'train'));
  if (a.lowMemoryPhase) {
    child(a, 'build-low-memory');
    r.onnx_low_memory = measured(a, 'train --low-memory', () => child(a, 'train-low-memory'));
  }
  if (a.profile) {
    r.profile = measured(a, 'profile', () => child(a, 'profile'));
    console.error(`[bench] profile: ${JSON.stringify(r.profile.loop.by_part)}`);
  }
  if (a.skipTorch) console.error('[bench] PyTorch skipped (--skip-torch)');
  else if (!torchAvailable()) console.error('[bench] PyTorch skipped: `python3 -c "import torch, transformers"` failed (install torch and transformers to compare)');
  else {
    console.error('[bench] PyTorch eager ...');
    r.torch_eager = measured(a, 'PyTorch eager', () => runTorch(a, false));
    if (a.compile) {
      console.error('[bench] torch.compile ...');
      r.torch_compile = measured(a, 'torch.compile', () => runTorch(a, true));
    }
  }
  r.machine.loadavg_end = os.loadavg();
  r.targets = targets(r);
  fs.writeFileSync(path.join(a.dir, 'results.json'), `${JSON.stringify(r, null, 2)}\n`);
  printResults(a, r);
}

function printResults(a, r) {
  console.log(table(a, r));
  console.log('');
  for (const t of r.targets) console.log(`${t.met ? 'met    ' : 'not met'}  ${t.name}: ${t.detail}`);
  const phases = { build: r.build[1], matmul: r.matmul, 'onnx-distill': r.onnx, 'onnx-distill --low-memory': r.onnx_low_memory, 'PyTorch eager': r.torch_eager, 'torch.compile': r.torch_compile };
  const busy = Object.entries(phases).filter(([, p]) => p?.contention).map(([k, p]) => `${k} ${(100 * p.contention.foreign_share).toFixed(1)}%`);
  console.log(`\nCPU time taken by other processes during each measurement: ${busy.join(', ')}${Object.values(phases).some((p) => p?.contended) ? ' -- CONTENDED: rerun on an idle machine' : ''}`);
  console.log(`\n(${path.relative(ROOT, path.join(a.dir, 'results.json'))} has every number)`);
}

main().catch((e) => {
  console.error(`[bench] ${process.env.BENCH_DEBUG ? e.stack : e.message ?? e}`);
  process.exit(1);
});
