import * as fs from 'node:fs';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { quantizeModelFile } from '/work/main/dist/src/quantize/model-file.js';
const root = '/work/main/models/user';
for (const fam of fs.readdirSync(root)) {
  for (const f of ['torchscript.onnx', 'dynamo.onnx']) {
    const src = path.join(root, fam, f);
    if (!fs.existsSync(src)) continue;
    const out = fs.mkdtempSync('/tmp/qall-');
    try {
      const r = quantizeModelFile({ model: src, outDir: out, embeddings: true });
      const a = await ort.InferenceSession.create(src), b = await ort.InferenceSession.create(r.model);
      const feeds = {};
      for (const n of a.inputNames) {
        const v = n === 'input_ids' ? BigInt64Array.from({ length: 2 * 12 }, (_, i) => BigInt(5 + (i * 37) % 90)) : n.includes('position') ? BigInt64Array.from({ length: 24 }, (_, i) => BigInt(i % 12)) : new BigInt64Array(24).fill(n === 'attention_mask' ? 1n : 0n);
        feeds[n] = new ort.Tensor('int64', v, [2, 12]);
      }
      const o = a.outputNames[0];
      const x = (await a.run(feeds))[o].data, y = (await b.run(feeds))[o].data;
      let sc = 0, worst = 0; for (let i = 0; i < x.length; i++) { sc = Math.max(sc, Math.abs(x[i])); worst = Math.max(worst, Math.abs(x[i] - y[i])); }
      const q = r.report.quantized;
      console.log(`${fam}/${f}`.padEnd(32), `${(r.bytesBefore / 1024).toFixed(0)}K -> ${(r.bytesAfter / 1024).toFixed(0)}K`, `MatMul ${q.MatMul.length} Gemm ${q.Gemm.length} Gather ${q.Gather.length} skipped ${r.report.skipped.length}`, `rel err ${(worst / sc).toExponential(2)}`);
    } catch (e) { console.log(`${fam}/${f}`.padEnd(32), 'ERROR', e.message.split('\n')[0].slice(0, 200)); }
    fs.rmSync(out, { recursive: true, force: true });
  }
}
