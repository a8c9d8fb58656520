#!/usr/bin/env node
// What GFLOP/s can a BERT distillation step reach in ONNX Runtime at its own matrix shapes?
//
//   npm run build && node scripts/bench/bench-gemm-shapes.mjs [small|base] [--threads 2]
//
// The bench (scripts/bench/bench.mjs) rates a step against ORT's MatMul peak on large square matrices (1024^3,
// 2048^3). A step's GEMMs are not square: small's student multiplies [4096 x 128] by [128 x 128], and its
// weight gradients reduce over 4096 rows. This script times ORT's MatMul on every GEMM shape of the teacher's
// forward and the student's forward and backward (transposes excluded: operands are laid out as the product
// needs them), weights each shape by how often a step runs it, and prints the GFLOP/s a step would reach if
// it spent no time outside its GEMMs. That is an upper bound for the step's GFLOP/s on this CPU.
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianRunMs } from './timing.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const lib = (p) => path.join(ROOT, 'dist', 'src', p);
const { default: ort } = await import('onnxruntime-node');
const { Graph } = await import(lib('ir/graph.js'));
const { newModel, modelToProto } = await import(lib('ir/convert.js'));
const { encodeModel } = await import(lib('onnx/model-io.js'));
const { DataType } = await import(lib('onnx/dtype.js'));
const { ortSessionOptions } = await import(lib('runtime/session.js'));

const argv = process.argv.slice(2);
const config = argv.find((x) => !x.startsWith('--')) ?? 'small';
const threads = argv.includes('--threads') ? Number(argv[argv.indexOf('--threads') + 1]) : 2;
// The bench's configurations (scripts/bench/make_bench_models.py): layers, hidden, FFN, heads; batch x sequence.
const CONFIGS = {
  small: { teacher: { L: 4, H: 256, I: 1024, heads: 4 }, student: { L: 2, H: 128, I: 512, heads: 2 }, B: 32, S: 128 },
  base: { teacher: { L: 12, H: 768, I: 3072, heads: 12 }, student: { L: 6, H: 768, I: 3072, heads: 12 }, B: 8, S: 128 },
};
const cfg = CONFIGS[config];
if (!cfg) throw new Error(`config must be small or base, got ${config}`);

/** GEMMs of one BERT encoder pass: { batch, m, k, n, count } (count per pass). */
function gemms({ L, H, I, heads }, B, S, backward) {
  const T = B * S;
  const d = H / heads;
  const fwd = [
    { what: 'Q/K/V/out projections', batch: 1, m: T, k: H, n: H, count: 4 * L },
    { what: 'FFN up', batch: 1, m: T, k: H, n: I, count: L },
    { what: 'FFN down', batch: 1, m: T, k: I, n: H, count: L },
    { what: 'scores Q K^T', batch: B * heads, m: S, k: d, n: S, count: L },
    { what: 'context P V', batch: B * heads, m: S, k: S, n: d, count: L },
  ];
  if (!backward) return fwd;
  const out = [];
  for (const g of fwd) {
    // Y[m,n] = X[m,k] W[k,n]:  dX = dY[m,n] W^T[n,k],  dW = X^T[k,m] dY[m,n]  (both for batched products).
    out.push({ ...g, what: `${g.what}: dX`, m: g.m, k: g.n, n: g.k });
    out.push({ ...g, what: `${g.what}: dW`, m: g.k, k: g.m, n: g.n });
  }
  return out;
}

const REPEAT = 4; // independent products per run, each reduced to a scalar, so one run is long enough to time
async function gflops({ batch, m, k, n }) {
  const g = new Graph('gemm');
  const input = (name, shape) => {
    const v = g.value(name);
    v.type = { elemType: DataType.FLOAT, shape };
    g.appendInputs(v);
    return v;
  };
  const lead = batch > 1 ? [batch] : [];
  const a = input('A', [...lead, m, k]);
  const bs = Array.from({ length: REPEAT }, (_, i) => input(`B${i}`, [...lead, k, n]));
  const sums = bs.map((b, i) => {
    const y = g.value(`y${i}`);
    g.addNode('MatMul', [a, b], [y]);
    const s = g.value(`s${i}`);
    g.addNode('ReduceSum', [y], [s], [{ name: 'keepdims', type: 2, i: 0 }]);
    return s;
  });
  const total = g.value('total');
  total.type = { elemType: DataType.FLOAT, shape: [] };
  g.addNode('Sum', sums, [total]);
  g.setOutputs([total]);
  const session = await ort.InferenceSession.create(encodeModel(modelToProto(newModel(g, 17))), ortSessionOptions({ threads }));
  const fill = (len) => Float32Array.from({ length: len }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
  const feeds = { A: new ort.Tensor('float32', fill(batch * m * k), [...lead, m, k]) };
  for (let i = 0; i < REPEAT; i++) feeds[`B${i}`] = new ort.Tensor('float32', fill(batch * k * n), [...lead, k, n]);
  const ms = await medianRunMs(session, feeds, { runs: 6, warmup: 3 });
  await session.release();
  return (REPEAT * 2 * batch * m * k * n) / (ms / 1e3) / 1e9;
}

const parts = [
  ['teacher forward', gemms(cfg.teacher, cfg.B, cfg.S, false)],
  ['student forward', gemms(cfg.student, cfg.B, cfg.S, false)],
  ['student backward', gemms(cfg.student, cfg.B, cfg.S, true)],
];
const square = await gflops({ batch: 1, m: 1024, k: 1024, n: 1024 });
console.log(`${config}: ${threads} threads, ${os.cpus()[0]?.model ?? '?'}; MatMul 1024^3: ${square.toFixed(1)} GFLOP/s`);
console.log('part                 shape [batch] m x k x n          count   GFLOP/s   % of 1024^3   ms per step');
const cache = new Map();
let flopsAll = 0;
let msAll = 0;
for (const [part, list] of parts) {
  let flops = 0;
  let ms = 0;
  for (const g of list) {
    const key = `${g.batch}:${g.m}:${g.k}:${g.n}`;
    if (!cache.has(key)) cache.set(key, await gflops(g));
    const rate = cache.get(key);
    const f = 2 * g.batch * g.m * g.k * g.n * g.count;
    const rowMs = (f / (rate * 1e9)) * 1e3;
    flops += f;
    ms += rowMs;
    const shape = `${g.batch > 1 ? `[${g.batch}] ` : ''}${g.m} x ${g.k} x ${g.n}`;
    console.log(`${part.padEnd(20)} ${shape.padEnd(32)} ${String(g.count).padStart(5)} ${rate.toFixed(1).padStart(9)} ${((100 * rate) / square).toFixed(0).padStart(10)}% ${rowMs.toFixed(1).padStart(10)}  ${g.what}`);
  }
  console.log(`${part}: ${(flops / 1e9).toFixed(2)} GFLOP in ${ms.toFixed(1)} ms at these shapes = ${(flops / ms / 1e6).toFixed(1)} GFLOP/s (${((100 * flops) / ms / 1e6 / square).toFixed(0)}% of the 1024^3 MatMul)`);
  flopsAll += flops;
  msAll += ms;
}
console.log(`whole step, GEMMs only: ${(flopsAll / 1e9).toFixed(2)} GFLOP in ${msAll.toFixed(1)} ms = ${(flopsAll / msAll / 1e6).toFixed(1)} GFLOP/s, ${((100 * flopsAll) / msAll / 1e6 / square).toFixed(0)}% of the 1024^3 MatMul: the ceiling for the step's GFLOP/s with zero time outside GEMMs`);
