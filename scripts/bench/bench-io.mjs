#!/usr/bin/env node
// Memory and time of loading and saving a large ONNX model, inline and with external data.
// Usage: npm run build && node scripts/bench/bench-io.mjs [sizeMB=500]
// Prints peak RSS of each step (run in its own process) as a multiple of the weight bytes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const lib = (p) => path.join(root, 'dist', 'src', p);
const step = process.argv[2];

if (step === 'make' || step === 'load-save') {
  const { DataType } = await import(lib('onnx/dtype.js'));
  const { makeTensor } = await import(lib('onnx/tensor.js'));
  const { loadModel, saveModel } = await import(lib('onnx/model-io.js'));
  const { Graph } = await import(lib('ir/graph.js'));
  const { newModel, modelToProto } = await import(lib('ir/convert.js'));
  const [, , , file, sizeMB, mode] = process.argv;
  const t0 = performance.now();
  if (step === 'make') {
    // A chain of 64 square MatMuls whose weights add up to sizeMB.
    const layers = 64;
    const n = Math.floor(Math.sqrt((Number(sizeMB) * 1024 * 1024) / 4 / layers));
    const g = new Graph('big');
    let x = g.value('x');
    x.type = { elemType: DataType.FLOAT, shape: ['batch', n] };
    g.appendInputs(x);
    for (let i = 0; i < layers; i++) {
      const w = g.addInitializer(makeTensor(`w${i}`, DataType.FLOAT, [n, n], new Float32Array(n * n).fill(1 / n)));
      const y = g.value(`h${i}`);
      g.addNode('MatMul', [x, w], [y]);
      x = y;
    }
    g.setOutputs([x]);
    saveModel(modelToProto(newModel(g, 17)), file, { externalData: mode === 'external' });
  } else {
    const { model } = loadModel(file);
    const t1 = performance.now();
    saveModel(model, `${file}.resaved.onnx`, { externalData: mode === 'external' });
    console.error(`load ${(t1 - t0).toFixed(0)} ms, save ${(performance.now() - t1).toFixed(0)} ms`);
  }
  const rss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ rss, ms: performance.now() - t0 }));
  process.exit(0);
}

const sizeMB = Number(step ?? 500);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-io-'));
const baseline = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.resourceUsage().maxRSS*1024))'], { encoding: 'utf8' });
const nodeRss = Number(baseline.stdout);
const mb = (b) => `${(b / 1024 / 1024).toFixed(0)} MB`;
console.log(`weights: ${sizeMB} MB of float32; bare node process: ${mb(nodeRss)} RSS`);
for (const mode of ['inline', 'external']) {
  const file = path.join(dir, `${mode}.onnx`);
  const make = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'make', file, String(sizeMB), mode], { encoding: 'utf8' });
  if (make.status !== 0) throw new Error(make.stderr);
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'load-save', file, String(sizeMB), mode], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const { rss, ms } = JSON.parse(r.stdout);
  const weights = fs.statSync(mode === 'inline' ? file : `${file}_data`).size;
  console.log(
    `${mode.padEnd(8)} load+save: ${ms.toFixed(0)} ms (${r.stderr.trim()}), peak RSS ${mb(rss)} = ${((rss - nodeRss) / weights).toFixed(2)}x the weights above a bare node process`,
  );
}
fs.rmSync(dir, { recursive: true, force: true });
