/**
 * Parity of whole-model gradients with PyTorch autograd: each fixture (BERT, DistilBERT, GPT-2, token
 * classification; both torch exporters) gets a cross-entropy loss on its logits, is differentiated, run in
 * ONNX Runtime, and compared with the gradients scripts/fixtures/reference_grads.py computed with PyTorch on the same
 * HF model and batch (models/<name>/<file>.ref.safetensors).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { differentiate } from '../src/autodiff/differentiate.js';
import { readSafetensors, safeToFloat64, type SafeTensor } from '../src/export/safetensors.js';
import { Builder } from '../src/ir/builder.js';
import { modelFromProto, modelToProto } from '../src/ir/convert.js';
import { narrowToReadRows } from '../src/ir/narrow-rows.js';
import { crossEntropy } from '../src/losses/cross-entropy.js';
import { encodeModel, loadModel } from '../src/onnx/model-io.js';
import { DataType } from '../src/onnx/dtype.js';
import { MODELS } from './helpers/fixtures.js';
import { isRematerialized, recomputedNodes } from './helpers/graph.js';
import { hasTrait } from '../src/onnx/ops.js';
import { eliminateDeadCode } from '../src/ir/passes.js';

interface Sidecar { task: string; parameters: Record<string, { name: string }> }

function fixtures(): { dir: string; onnx: string; ref: string; sidecar: string }[] {
  const out = [];
  for (const dir of fs.readdirSync(MODELS).sort()) {
    const d = path.join(MODELS, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d)) {
      const m = /^(.*)\.ref\.safetensors$/.exec(f);
      if (!m || !fs.existsSync(path.join(d, `${m[1]}.onnx`))) continue; // steps/ holds training references
      const sidecar = m[1] === 'model' ? 'distill.json' : `${m[1]}.distill.json`;
      out.push({ dir, onnx: path.join(d, `${m[1]}.onnx`), ref: path.join(d, f), sidecar: path.join(d, sidecar) });
    }
  }
  return out;
}

const int64 = (t: SafeTensor) => new ort.Tensor('int64', new BigInt64Array(new Uint8Array(t.bytes).buffer), t.shape);

describe('whole-model gradients match PyTorch autograd', () => {
  const cases = fixtures();
  it('has reference gradients for every fixture and both exporters', () => {
    assert.ok(cases.length >= 11, `found ${cases.length} reference files`);
    assert.ok(cases.some((c) => c.onnx.endsWith('model.dynamo.onnx')));
  });

  // Each fixture as exported, and each classifier also narrowed to the rows its logits read (ir/narrow-rows.ts),
  // as the step graph is: the same loss and gradients from a last layer that runs for the [CLS] position only.
  const runs = cases.flatMap((c) => {
    const sidecar = JSON.parse(fs.readFileSync(c.sidecar, 'utf8')) as Sidecar;
    return sidecar.task === 'seq-cls' ? [{ c, sidecar, narrow: false }, { c, sidecar, narrow: true }] : [{ c, sidecar, narrow: false }];
  });
  it('narrows every classifier fixture of both exporters', () => {
    assert.ok(runs.filter((r) => r.narrow).length >= 6);
  });

  for (const { c, sidecar, narrow } of runs) {
    it(`${path.relative(MODELS, c.onnx)}${narrow ? ', rows narrowed' : ''}: loss and every parameter gradient within 1e-4 relative`, async () => {
      const ref = readSafetensors(c.ref);
      const model = modelFromProto(loadModel(c.onnx).model);
      const g = model.graph;
      const opset = model.opset('')!;
      if (narrow) {
        // As the step graph narrows (its attention included): the last layer's query, output and feed-forward
        // products on one position, its scores and context on one query row.
        narrowToReadRows(g, { opset, exactAcrossPadding: false });
        const products = g.nodes.filter((n) => n.opType === 'MatMul').map((n) => n.outputs[0]!.type.shape ?? []);
        assert.equal(products.filter((d) => d.length === 3 && d[1] === 1).length, 4, 'token-wise products on one row');
        assert.equal(products.filter((d) => d.length === 4 && d[2] === 1).length, 2, 'attention products on one query row');
      }
      const b = new Builder(g, { opset, prefix: 'loss/' });
      let logits = g.get('logits')!;
      const labels = g.value('labels');
      labels.type = { elemType: DataType.INT64, shape: ref.get('labels')!.shape.map((_, i) => `labels_d${i}`) };
      g.appendInputs(labels);
      if (sidecar.task === 'causal-lm') logits = b.op('Slice', [logits, b.int64([0]), b.int64([-1]), b.int64([1])]);
      const { loss } = crossEntropy(b, logits, labels);
      const forwardNodes = g.nodes.length;
      const params = Object.keys(sidecar.parameters).map((n) => g.get(n)!);
      const r = differentiate(g, { loss, wrt: params, opset });
      assert.deepEqual(r.unreached.map((v) => v.name), []);

      const backward = g.nodes.slice(forwardNodes);
      g.setOutputs([loss, ...params.map((p) => r.gradients.get(p.name)!)]);
      eliminateDeadCode(g);
      const session = await ort.InferenceSession.create(encodeModel(modelToProto(model)), { intraOpNumThreads: 2 });
      const res = await session.run({
        input_ids: int64(ref.get('input_ids')!), attention_mask: int64(ref.get('attention_mask')!), labels: int64(ref.get('labels')!),
      });
      const refLoss = safeToFloat64(ref.get('loss')!)[0]!;
      const ourLoss = Number((res[loss.name]!.data as Float32Array)[0]);
      assert.ok(Math.abs(ourLoss - refLoss) <= 1e-5 * Math.abs(refLoss), `loss ${ourLoss} vs PyTorch ${refLoss}`);
      // Error per tensor relative to its largest PyTorch gradient. Some gradients are exactly zero in exact
      // arithmetic (attention key biases: softmax ignores a per-query constant), where both sides hold only
      // rounding noise (~1e-12); so the scale never drops below 1e-6 of the model's largest gradient.
      const rows = params.map((p) => {
        const ours = res[r.gradients.get(p.name)!.name]!.data as Float32Array;
        const theirs = safeToFloat64(ref.get(`grad/${p.name}`)!);
        assert.equal(ours.length, theirs.length, `${p.name}: size`);
        let maxDiff = 0;
        let maxRef = 0;
        for (let i = 0; i < ours.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - theirs[i]!));
          maxRef = Math.max(maxRef, Math.abs(theirs[i]!));
        }
        return { name: p.name, maxDiff, maxRef };
      });
      const floor = 1e-6 * Math.max(...rows.map((x) => x.maxRef));
      const report = rows
        .map((x) => ({ ...x, rel: x.maxDiff / Math.max(x.maxRef, floor) }))
        .filter((x) => x.rel > 1e-4)
        .map((x) => `${x.name}: max|diff|/max|ref| = ${x.rel.toExponential(2)} (diff ${x.maxDiff.toExponential(2)}, ref ${x.maxRef.toExponential(2)})`);
      assert.deepEqual(report, [], 'gradients off by more than 1e-4 relative');

      // Budget: the backward pass adds at most ~3x the forward's nodes, and its rules recompute none of them.
      assert.ok(backward.length <= 3 * forwardNodes, `backward ${backward.length} nodes vs forward ${forwardNodes}`);
      assert.deepEqual(recomputedNodes(g.nodes, forwardNodes), [], 'backward recomputes forward nodes');
      // Deliberate recomputation (remat.ts) is of cheap elementwise ops only; every erf-GELU model has some.
      const remat = backward.filter(isRematerialized);
      assert.deepEqual(remat.filter((n) => !hasTrait(n.opType, 'cheap')).map((n) => n.describe()), []);
      if (g.nodes.some((n) => n.opType === 'Erf' && !n.name.startsWith('grad/'))) assert.ok(remat.some((n) => n.opType === 'Erf'), 'the GELU is not recomputed');

    });
  }
});
