#!/usr/bin/env node
// ScatterND / ScatterElements with reduction="add" (the Gather gradient of onnx-distill) on each execution
// provider against the exact sum computed here: all indices repeating one row (token_type_embeddings: every
// token has type 0), a few rows (position embeddings), and random rows (word embeddings).
//
//   python3 scripts/bench/gpu/scatter_models.py /tmp/scat && node scripts/bench/gpu/scatter-check.mjs /tmp/scat [cpu,webgpu]
// Updates are small integers, so every exact sum is a float32 integer and any difference is an error, not rounding.
import * as path from 'node:path';
import ort from 'onnxruntime-node';

const dir = process.argv[2] ?? '/tmp/scat';
const eps = (process.argv[3] ?? 'cpu,webgpu').split(',');
const CASES = [
  // [rows R, width D, count N, index pattern]
  [2, 32, 4096, 'same'], [2, 128, 512, 'same'], [2, 128, 2048, 'same'], [2, 128, 4096, 'same'],
  [2, 768, 1024, 'same'], [128, 128, 4096, 'mod128'], [30522, 128, 4096, 'random'], [2000, 32, 4096, 'random'],
];
let s = 7;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
const sessions = {};
for (const ep of eps) {
  sessions[ep] = {};
  for (const m of ['scatternd_add', 'scatterelements_add']) {
    try {
      sessions[ep][m] = await ort.InferenceSession.create(path.join(dir, `${m}.onnx`), { executionProviders: [ep], logSeverityLevel: 3 });
    } catch (e) {
      console.log(`${ep} ${m}: session failed: ${String(e.message).split('\n')[0]}`);
    }
  }
}
for (const [R, D, N, pat] of CASES) {
  const idx = BigInt64Array.from({ length: N }, (_, n) => BigInt(pat === 'same' ? 0 : pat === 'mod128' ? n % 128 : Math.floor(rnd() * R)));
  const upd = Float32Array.from({ length: N * D }, () => Math.floor(rnd() * 7) - 3);
  const want = new Float64Array(R * D);
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) want[Number(idx[n]) * D + d] += upd[n * D + d];
  const line = [`R ${R} D ${D} N ${N} ${pat}:`.padEnd(34)];
  for (const ep of eps) {
    for (const [m, feeds] of [
      ['scatternd_add', { data: new ort.Tensor('float32', new Float32Array(R * D), [R, D]), indices: new ort.Tensor('int64', idx, [N, 1]), updates: new ort.Tensor('float32', upd, [N, D]) }],
      ['scatterelements_add', {
        data: new ort.Tensor('float32', new Float32Array(R * D), [1, R, D]),
        indices: new ort.Tensor('int64', BigInt64Array.from({ length: N * D }, (_, k) => idx[Math.floor(k / D)]), [1, N, D]),
        updates: new ort.Tensor('float32', upd, [1, N, D]),
      }],
    ]) {
      const sess = sessions[ep][m];
      if (!sess) continue;
      try {
        const y = (await sess.run(feeds)).y.data;
        let bad = 0;
        let worst = 0;
        for (let k = 0; k < want.length; k++) {
          const d = Math.abs(y[k] - want[k]);
          if (d > 0) bad++;
          worst = Math.max(worst, d);
        }
        line.push(`${ep}/${m === 'scatternd_add' ? 'ND' : 'El'} ${bad ? `WRONG ${bad} elems, max |err| ${worst}` : 'exact'}`);
      } catch (e) {
        line.push(`${ep}/${m} ERROR ${String(e.message).split('\n')[0]}`);
      }
    }
  }
  console.log(line.join('  '));
}
