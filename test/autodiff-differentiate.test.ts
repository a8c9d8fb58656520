/** The differentiation driver itself: what gets backward work, errors, and the `distill grad` command. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { differentiate } from '../src/autodiff/differentiate.js';
import { GraphError } from '../src/errors.js';
import { Builder } from '../src/ir/builder.js';
import { modelFromProto, modelToProto } from '../src/ir/convert.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { encodeModel, loadModel } from '../src/onnx/model-io.js';
import { makeTensor } from '../src/onnx/tensor.js';
import { MODELS, ROOT, tokenBatch } from './helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-grad-'));

function smallGraph() {
  const g = new Graph('t');
  const x = g.addInput('x', { elemType: DataType.FLOAT, shape: ['n', 3] });
  const w = g.addInitializer(makeTensor('w', DataType.FLOAT, [3, 3], new Float32Array(9).fill(0.5)));
  w.type = { elemType: DataType.FLOAT, shape: [3, 3] };
  const v = g.addInitializer(makeTensor('v', DataType.FLOAT, [3], new Float32Array(3).fill(1)));
  v.type = { elemType: DataType.FLOAT, shape: [3] };
  return { g, x, w, v, b: new Builder(g, { opset: 17 }) };
}

describe('differentiate: only what is needed', () => {
  it('an op without a rule on the path fails with its type, node and the parameter it reaches from', () => {
    const { g, x, w, b } = smallGraph();
    const y = b.op('HardSwish', [b.op('MatMul', [x, w])], {}, 'mystery');
    const loss = b.reduceSum(y, [], false);
    assert.throws(() => differentiate(g, { loss, wrt: [w], opset: 17 }), (e: Error) => {
      assert.ok(e instanceof GraphError);
      assert.match(e.message, /no gradient rule for HardSwish \(node 'mystery'\), which lies between parameter 'w' and loss '.+'/);
      return true;
    });
  });

  it('an op without a rule off the path (not between a parameter and the loss) is fine', () => {
    const { g, x, w, b } = smallGraph();
    const side = b.op('HardSwish', [x]); // depends on no parameter
    const loss = b.reduceSum(b.mul(b.op('MatMul', [x, w]), side), [], false);
    const r = differentiate(g, { loss, wrt: [w], opset: 17 });
    assert.ok(r.gradients.has('w'));
  });

  it('branches that do not reach the loss, integer paths and shape computations get no backward nodes', () => {
    const { g, x, w, v, b } = smallGraph();
    const h = b.op('MatMul', [x, w]);
    b.op('Exp', [w]); // uses a parameter, does not reach the loss
    const shape = b.op('Shape', [h]); // integer path from a differentiated value
    const ones = b.op('ConstantOfShape', [shape], { value: makeTensor('', DataType.FLOAT, [1], Float32Array.of(1)) });
    const loss = b.reduceSum(b.mul(b.add(h, v), ones), [], false);
    const before = new Set(g.nodes);
    const r = differentiate(g, { loss, wrt: [w, v], opset: 17 });
    const added = g.nodes.filter((n) => !before.has(n));
    assert.equal(r.nodesAdded, added.length);
    const consumed = new Set(added.flatMap((n) => n.inputs.map((i) => i?.producer?.opType)));
    assert.ok(!consumed.has('Exp'), 'the Exp branch is not differentiated');
    assert.ok(!added.some((n) => n.opType === 'ConstantOfShape' && n.inputs[0] === shape && n.outputs[0] !== ones), 'no backward through Shape');
    assert.deepEqual([...r.gradients.keys()].sort(), ['v', 'w']);
  });

  it('parameters that do not reach the loss are reported, not given a silent zero gradient', () => {
    const { g, x, w, v, b } = smallGraph();
    const loss = b.reduceSum(b.op('MatMul', [x, w]), [], false);
    const r = differentiate(g, { loss, wrt: [w, v], opset: 17 });
    assert.deepEqual(r.unreached.map((p) => p.name), ['v']);
    assert.ok(!r.gradients.has('v'));
  });
});

describe('distill grad', () => {
  const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
  it('writes a forward+backward model whose gradients match the math and finite differences', async () => {
    const out = path.join(tmp, 'bert.grad.onnx');
    const r = spawnSync(process.execPath, [CLI, 'grad', path.join(MODELS, 'bert-student', 'model.onnx'), '--loss', 'logits', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /25 gradient outputs/);
    const session = await ort.InferenceSession.create(out);
    assert.equal(session.outputNames.filter((n) => n.startsWith('grad/')).length, 25);
    const feed = tokenBatch(['input_ids', 'attention_mask'], 2, 7);
    const res = await session.run(feed);
    // d sum(logits) / d classifier.bias = batch size, for every class: exact.
    assert.deepEqual(Array.from(res['grad/classifier.bias']!.data as Float32Array), [2, 2]);
    // A word-embedding element of a token in the batch, against central differences of the original model.
    const id = Number((feed.input_ids!.data as BigInt64Array)[0]);
    const grad = (res['grad/bert.embeddings.word_embeddings.weight']!.data as Float32Array)[id * 32 + 5]!;
    const sumLogits = async (delta: number) => {
      const m = modelFromProto(loadModel(path.join(MODELS, 'bert-student', 'model.onnx')).model);
      const t = m.graph.get('bert.embeddings.word_embeddings.weight')!.initializer!;
      const data = new Float32Array(new Uint8Array(t.rawData!).buffer);
      data[id * 32 + 5]! += delta;
      t.rawData = new Uint8Array(data.buffer);
      const s = await ort.InferenceSession.create(encodeModel(modelToProto(m)));
      const o = await s.run(feed);
      return Array.from(o.logits!.data as Float32Array).reduce((a, c) => a + c, 0);
    };
    const eps = 1e-2;
    const fd = ((await sumLogits(eps)) - (await sumLogits(-eps))) / (2 * eps);
    assert.ok(Math.abs(grad - fd) <= 1e-3 + 1e-2 * Math.abs(fd), `analytic ${grad} vs finite difference ${fd}`);
  });

  it("nn.Embedding's padding row gets no gradient from lookups, as in PyTorch (Llama, padding_idx 0)", async () => {
    const out = path.join(tmp, 'llama.grad.onnx');
    const r = spawnSync(process.execPath, [CLI, 'grad', path.join(MODELS, 'user', 'llama', 'dynamo.onnx'), '--loss', 'logits', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const session = await ort.InferenceSession.create(out);
    // Token 0 (the padding id) read at two positions, as a padded batch reads it.
    const ids = [5, 17, 0, 0, 42, 99];
    const int64 = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [1, v.length]);
    const res = await session.run({ input_ids: int64(ids), attention_mask: int64(ids.map((v) => (v === 0 ? 0 : 1))) });
    const grad = res['grad/model.embed_tokens.weight']!.data as Float32Array;
    const H = grad.length / 2000;
    const row = (id: number) => Array.from(grad.subarray(id * H, (id + 1) * H));
    assert.ok(row(0).every((v) => v === 0), 'the padding row');
    assert.ok(row(5).some((v) => v !== 0), 'a token row');
  });

  it('--wrt and --freeze select parameters by glob; a loss name that does not exist is a clear error', () => {
    const out = path.join(tmp, 'sel.onnx');
    const r = spawnSync(process.execPath, [CLI, 'grad', path.join(MODELS, 'bert-student', 'model.onnx'), '--loss', 'logits', '--out', out, '--wrt', 'bert.encoder.*', '--freeze', '*.bias'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const names = loadModel(out).model.graph!.output.map((o) => o.name).filter((n) => n.startsWith('grad/'));
    assert.ok(names.length > 0 && names.every((n) => n.startsWith('grad/bert.encoder.') && !n.endsWith('.bias')), names.join(','));
    const bad = spawnSync(process.execPath, [CLI, 'grad', path.join(MODELS, 'bert-student', 'model.onnx'), '--loss', 'lossy', '--out', out], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^distill: --loss 'lossy' is not a value of the model \(its outputs: logits\)\n$/);
  });
});
