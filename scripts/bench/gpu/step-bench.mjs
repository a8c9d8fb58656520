#!/usr/bin/env node
// Per-step time of the training step on the CPU provider (all cores, default build, K steps per Loop call)
// against WebGPU (a build for the GPU, one step per call, state kept in GPU buffers), on the same machine and
// batches; with --parity, the six PyTorch step references on WebGPU; with --placement, which nodes ORT put
// on the CPU under WebGPU and which values it copied back to the host, for the CPU and GPU builds.
//
//   npm run build
//   node scripts/bench/gpu/step-bench.mjs [--students small=DIR,base=DIR] [--eps cpu,webgpu] [--batch 32] [--seq 128]
//        [--k 8] [--calls 3] [--warmup 2] [--parity] [--placement] [--budget-s 300]
//   DIR holds model.onnx (scripts/bench/make_bench_models.py writes .bench/<config>/student/model.onnx). Without
//   --students the fixture BERT student (models/bert-student) is timed.
//   env: DISTILL_BUILD (default <root>/dist), DISTILL_MODELS (default <root>/models)
//
// WebGPU without a GPU: VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium
// (docs/WEBGPU.md); its times say nothing about GPUs. scripts/bench/gpu/device-run.sh runs this on a lent GPU.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..', '..', '..');
const MODELS = process.env.DISTILL_MODELS ?? path.join(ROOT, 'models');
const BUILD = path.resolve(process.env.DISTILL_BUILD ?? path.join(ROOT, 'dist'));
const lib = async (p) => import(pathToFileURL(path.join(BUILD, p)).href);

const ort = (await import('onnxruntime-node')).default;
// The child that opens one model with ORT's verbose log, which lists each node's provider (placement()).
if (process.argv[2] === '--placement-child') {
  const [ep, model] = process.argv.slice(3);
  try {
    await ort.InferenceSession.create(model, { executionProviders: [ep], logSeverityLevel: 0, logVerbosityLevel: 0, graphOptimizationLevel: 'all' });
  } catch (e) {
    console.log(`session failed: ${e?.message ?? e}`);
  }
  process.exit(0);
}

const args = { students: null, eps: ['cpu', 'webgpu'], batch: 32, seq: 128, k: 8, calls: 3, warmup: 2, parity: false, placement: false, budgetS: 300 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const next = () => process.argv[++i];
  if (a === '--students') args.students = next().split(',').map((s) => s.split('='));
  else if (a === '--eps') args.eps = next().split(',');
  else if (a === '--batch') args.batch = Number(next());
  else if (a === '--seq') args.seq = Number(next());
  else if (a === '--k') args.k = Number(next());
  else if (a === '--calls') args.calls = Number(next());
  else if (a === '--warmup') args.warmup = Number(next());
  else if (a === '--parity') args.parity = true;
  else if (a === '--placement') args.placement = true;
  else if (a === '--budget-s') args.budgetS = Number(next());
  else throw new Error(`unknown argument ${a}`);
}

const { buildTrainingArtifacts, TrainerSession } = await lib('src/index.js');
const { mulberry32 } = await lib('src/data/batches.js');
const { loadStepReference, referenceExpected, compareRun } = await lib('test/helpers/step-reference.js');
const { placementReport } = await lib('test/helpers/placement.js');

const T0 = performance.now();
const elapsedS = () => (performance.now() - T0) / 1000;
const log = (...a) => console.log(...a);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'step-bench-'));
const fmt = (x) => (Number.isFinite(x) ? x.toExponential(2) : String(x));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = [];
log(`# step-bench: node ${process.version}, onnxruntime-node ${ort.env.versions?.node ?? '?'}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), backends ${JSON.stringify(ort.listSupportedBackends?.())}`);

/** The build of each provider: the CPU's default, or the GPU build. */
const targetOf = (ep) => (ep === 'cpu' ? 'cpu' : 'gpu');

async function parity() {
  const files = fs.readdirSync(path.join(MODELS, 'steps')).filter((f) => f.endsWith('.ref.safetensors')).sort();
  for (const file of files) {
    for (const ep of args.eps.filter((e) => e !== 'cpu')) {
      try {
        const r = await loadStepReference(MODELS, file, tmp, targetOf(ep));
        const s = await TrainerSession.open(r.outDir, { ep });
        const initial = new Map([...s.parameterArrays()].map(([k, v]) => [k, Float64Array.from(v)]));
        const t0 = performance.now();
        const metrics = await s.train(r.batches, r.lrs, r.hyper);
        const ms = performance.now() - t0;
        await s.sync();
        const c = compareRun({ metrics, initial, final: s.parameterArrays() }, referenceExpected(r), r.meta);
        const pass = c.terms.length === 0 && c.updates.length === 0;
        const line = `parity ${file} ${ep} vs PyTorch: ${pass ? 'PASS' : 'FAIL'} max rel loss ${fmt(c.worstTerm.loss)} ce ${fmt(c.worstTerm.ce)} grad_norm ${fmt(c.worstTerm.gradNorm)}, update rel L2 max ${fmt(c.worstUpdate.rel)} (${c.worstUpdate.name}); ${r.meta.steps} steps in ${ms.toFixed(0)} ms`;
        log(line);
        for (const b of [...c.terms, ...c.updates].slice(0, 5)) log(`    ${b}`);
        summary.push(line);
        await s.release();
      } catch (e) {
        summary.push(`parity ${file} ${ep}: ERROR ${String(e?.message ?? e).split('\n')[0]}`);
        log(summary.at(-1));
      }
    }
  }
}

/** Placement of every model a build's run opens under `ep`, in a child process with ORT's verbose log. */
function placement(label, student, teacher, target, ep) {
  const dir = fs.mkdtempSync(path.join(tmp, `placement-${label}-`));
  buildTrainingArtifacts({ student, teacher, task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: 0.01 }, outDir: dir, target });
  const models = target === 'gpu' ? ['train_step.onnx', 'eval.onnx', 'fetch_state.onnx', 'fetch_metrics.onnx'] : ['train_loop.onnx', 'train_step.onnx', 'eval.onnx'];
  for (const m of models) {
    const r = spawnSync(process.execPath, [SELF, '--placement-child', ep, path.join(dir, m)], { encoding: 'utf8', maxBuffer: 1 << 30, timeout: 120_000 });
    const rep = placementReport(`${r.stdout ?? ''}\n${r.stderr ?? ''}`);
    const line = `placement ${label} (${target} build) ${m} on ${ep}: ${rep.total} nodes, ${rep.cpu.length} on the CPU (compute: ${rep.cpuCompute.map((n) => n.op).join(' ') || 'none'}), ${rep.toHost.length} values copied to the host${rep.toHost.length ? ` (${rep.toHost.slice(0, 6).join(', ')})` : ''}, ${rep.fromHost.length} to the device (${rep.fromHost.slice(0, 14).join(', ')})`;
    log(line);
    summary.push(line);
  }
}

function randomBatches(n, B, S, vocab, classes, seed) {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const ids = new BigInt64Array(B * S);
    const mask = new BigInt64Array(B * S);
    for (let b = 0; b < B; b++) {
      const len = S - Math.floor(r() * (S / 4));
      for (let s = 0; s < S; s++) {
        ids[b * S + s] = s < len ? BigInt(1 + Math.floor(r() * (vocab - 1))) : 0n;
        mask[b * S + s] = s < len ? 1n : 0n;
      }
    }
    return {
      input_ids: new ort.Tensor('int64', ids, [B, S]),
      attention_mask: new ort.Tensor('int64', mask, [B, S]),
      labels: new ort.Tensor('int64', BigInt64Array.from({ length: B }, () => BigInt(Math.floor(r() * classes))), [B]),
      teacher_logits: new ort.Tensor('float32', Float32Array.from({ length: B * classes }, () => (r() - 0.5) * 4), [B, classes]),
    };
  });
}

/** ms per step on each provider; the first step's metrics, to compare the providers. */
async function timeStudent(label, student) {
  let batches;
  let lrs;
  const hyper = { alpha: 0.5, temperature: 2, maxGradNorm: 1 };
  const perStep = {};
  for (const ep of args.eps) {
    if (elapsedS() > args.budgetS) {
      log(`timing ${label} ${ep}: skipped (budget of ${args.budgetS} s spent)`);
      continue;
    }
    const dir = fs.mkdtempSync(path.join(tmp, `timing-${label}-${ep}-`));
    try {
      const b0 = performance.now();
      const m = buildTrainingArtifacts({ student, teacher: student, task: 'seq-cls', optimizer: 'adamw', optimizerSettings: { weightDecay: 0.01 }, outDir: dir, target: targetOf(ep) });
      // Token ids within the student's vocabulary (a GPU Gather reads out of bounds without an error).
      const vocab = m.parameters.find((p) => /word_embeddings|wte|embed_tokens/.test(p.name))?.shape[0] ?? 30522;
      batches ??= randomBatches(args.k, args.batch, args.seq, vocab, 2, 11);
      lrs ??= batches.map(() => 5e-5);
      const o0 = performance.now();
      const s = await TrainerSession.open(dir, { ep });
      const openMs = performance.now() - o0;
      const calls = [];
      let first;
      for (let c = 0; c < args.warmup + args.calls && elapsedS() < args.budgetS + 60; c++) {
        const c0 = performance.now();
        const m = await s.train(batches, lrs, hyper);
        calls.push(performance.now() - c0);
        first ??= m[0];
      }
      const s0 = performance.now();
      await s.sync();
      const syncMs = performance.now() - s0;
      const ms = median(calls.slice(args.warmup)) / args.k;
      perStep[ep] = ms;
      const line = `timing ${label} ${ep}: ${ms.toFixed(2)} ms/step (${((args.batch / ms) * 1000).toFixed(0)} samples/s), B ${args.batch} S ${args.seq}, K ${args.k}; calls ${calls.map((x) => x.toFixed(0)).join(', ')} ms; build ${(o0 - b0).toFixed(0)} ms, open ${openMs.toFixed(0)} ms, state to host ${syncMs.toFixed(0)} ms; first step loss ${first?.loss.toFixed(6)} grad_norm ${first?.gradNorm.toFixed(6)}`;
      log(line);
      summary.push(line);
      await s.release();
    } catch (e) {
      summary.push(`timing ${label} ${ep}: ERROR ${String(e?.message ?? e).split('\n')[0]}`);
      log(summary.at(-1));
    }
  }
  if (perStep.cpu && perStep.webgpu) summary.push(`timing ${label}: webgpu ${(perStep.cpu / perStep.webgpu).toFixed(2)}x the CPU provider's speed`);
}

if (args.parity) await parity();
const fixture = [['fixture-bert', path.join(MODELS, 'bert-student')]];
const students = (args.students ?? fixture).filter(([, dir]) => fs.existsSync(path.join(dir, 'model.onnx')));
if (args.placement) {
  for (const ep of args.eps.filter((e) => e !== 'cpu')) {
    for (const [label, dir] of [...fixture, ...students.slice(0, 1)]) {
      const m = path.join(dir, 'model.onnx');
      for (const target of ['cpu', 'gpu']) placement(label, m, m, target, ep);
    }
  }
}
for (const [label, dir] of students) await timeStudent(label, path.join(dir, 'model.onnx'));

log('\n## summary');
for (const l of summary) log(`  ${l}`);
log(`  total ${elapsedS().toFixed(1)} s`);
fs.rmSync(tmp, { recursive: true, force: true });
