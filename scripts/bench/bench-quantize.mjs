#!/usr/bin/env node
// The quantized student against its fp32 model: size on disk, latency per batch on 2 threads (median over
// repeated warm runs of every eval batch), accuracy. docs/COMPRESSION.md has the results and the method.
//
//   npm run build && node scripts/bench/bench-quantize.mjs --model DIR/model.onnx --eval-file EVAL.jsonl \
//       [--threads 2] [--repeats 5] [--rounds 2]
//
// It writes three quantized variants of the model into a temporary folder (integer form with int8
// embeddings, the default `distill quantize --embeddings` writes; the QDQ form with int8 embeddings; the
// integer form with float embeddings), evaluates all four models with the `distill eval` code, and
// repeats the whole comparison --rounds times in alternating order so that a noisy neighbour on a shared
// machine shows up as disagreement between rounds rather than as a silent bias.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { runEval } from '../../dist/src/cli/eval.js';
import { quantizeModelFile } from '../../dist/src/quantize/model-file.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' }, 'eval-file': { type: 'string' },
    threads: { type: 'string', default: '2' }, repeats: { type: 'string', default: '5' }, rounds: { type: 'string', default: '2' },
  },
});
if (!a.model || !a['eval-file']) {
  console.error('usage: node scripts/bench/bench-quantize.mjs --model DIR/model.onnx --eval-file EVAL.jsonl [--threads 2] [--repeats 5] [--rounds 2]');
  process.exit(2);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-quantize-'));
const variants = [
  { name: 'int8, integer form, int8 embeddings', dir: 'integer-emb', form: 'integer', embeddings: true },
  { name: 'int8, QDQ form, int8 embeddings', dir: 'qdq-emb', form: 'qdq', embeddings: true },
  { name: 'int8, integer form, float embeddings', dir: 'integer', form: 'integer', embeddings: false },
];
const models = [{ name: 'fp32', file: a.model }];
for (const v of variants) {
  const outDir = path.join(tmp, v.dir);
  const r = quantizeModelFile({ model: a.model, outDir, form: v.form, embeddings: v.embeddings });
  models.push({ name: v.name, file: r.model });
}
const opts = { evalFile: a['eval-file'], batchSize: 32, maxLength: 128, textField: 'text', ep: 'cpu', threads: Number(a.threads), repeats: Number(a.repeats) };
const byName = new Map(models.map((m) => [m.name, []]));
for (let round = 0; round < Number(a.rounds); round++) {
  const order = round % 2 ? [...models].reverse() : models;
  const reports = await runEval({ ...opts, models: order.map((m) => m.file) });
  reports.forEach((r, i) => byName.get(order[i].name).push(r));
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];
const fp32 = byName.get('fp32');
const base = { ms: median(fp32.map((r) => r.latency.p50Ms)), bytes: fp32[0].size.bytes, acc: fp32[0].metrics.accuracy };
console.log(`${a.model} on ${a['eval-file']}: ${fp32[0].examples} examples, batches of 32, ${a.threads} threads, every batch timed ${a.repeats}x per round, ${a.rounds} rounds`);
console.log('model                                    bytes  size ratio  median ms/batch (per round)  speed-up  accuracy  delta (points)');
for (const m of models) {
  const rs = byName.get(m.name);
  const ms = rs.map((r) => r.latency.p50Ms);
  const acc = rs[0].metrics.accuracy;
  console.log(
    `${m.name.padEnd(38)} ${String(rs[0].size.bytes).padStart(8)} ${(base.bytes / rs[0].size.bytes).toFixed(2).padStart(10)}x ` +
      `${median(ms).toFixed(2).padStart(8)} (${ms.map((x) => x.toFixed(2)).join(', ')})`.padEnd(30) +
      ` ${(base.ms / median(ms)).toFixed(2).padStart(8)}x ${(100 * acc).toFixed(2).padStart(9)} ${(100 * (acc - base.acc)).toFixed(2).padStart(14)}`,
  );
}
fs.rmSync(tmp, { recursive: true, force: true });
