/**
 * Row narrowing (src/ir/narrow-rows.ts): a graph that reads one row of a tensor computes only that row.
 * Every case runs the original graph and the narrowed one in ONNX Runtime on the same inputs (the original's
 * own ops are the reference) and checks, node by node, how far the narrowing went: all the way where the
 * ops allow it, not at all where they do not.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { Builder } from '../src/ir/builder.js';
import { type Model, modelFromProto, newModel } from '../src/ir/convert.js';
import { Graph, type Value } from '../src/ir/graph.js';
import { inferTypes } from '../src/ir/infer.js';
import { type NarrowReport, narrowToReadRows } from '../src/ir/narrow-rows.js';
import { DataType } from '../src/onnx/dtype.js';
import { loadModel, saveModel } from '../src/onnx/model-io.js';
import { makeTensor, typedFromNumbers } from '../src/onnx/tensor.js';
import { createTeacherSession, teacherModel } from '../src/train/teacher.js';
import { MODELS, tokenBatch } from './helpers/fixtures.js';
import { type Feed, session, tensor } from './helpers/ort.js';
import { rng, uniform } from './helpers/rng.js';

const OPSET = 17;

function weight(b: Builder, dims: number[], seed: number): Value {
  const n = dims.reduce((p, q) => p * q, 1);
  return b.constant(makeTensor('', DataType.FLOAT, dims, typedFromNumbers(DataType.FLOAT, uniform(rng(seed), n))));
}

/** x: [b, s, 4] float input (symbolic batch and sequence), plus `more` inputs; forward builds the rest. */
function model(forward: (b: Builder, x: Value, g: Graph) => Value | Value[], more: Record<string, (number | string | null)[]> = {}): Model {
  const g = new Graph('narrow');
  const x = g.addInput('x', { elemType: DataType.FLOAT, shape: ['b', 's', 4] });
  for (const [name, shape] of Object.entries(more)) g.addInput(name, { elemType: DataType.FLOAT, shape });
  const out = forward(new Builder(g, { opset: OPSET, prefix: 'f/' }), x, g);
  g.setOutputs(Array.isArray(out) ? out : [out]);
  return newModel(g, OPSET);
}

const row = (b: Builder, y: Value, k: number, axis = 1) => b.op('Gather', [y, b.int64([k], true)], { axis });

async function outputsOf(m: Model, feed: Feed): Promise<number[][]> {
  const s = await session(m);
  const r = await s.run(feed);
  return s.outputNames.map((n) => Array.from(r[n]!.data as Float32Array));
}

function assertClose(got: number[][], want: number[][], rel = 1e-6): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    assert.equal(g.length, want[i]!.length, `output ${i}: size`);
    const scale = Math.max(...want[i]!.map(Math.abs), 1e-30);
    const diff = Math.max(...g.map((v, j) => Math.abs(v - want[i]![j]!)));
    assert.ok(diff <= rel * scale, `output ${i}: max|diff| ${diff} vs max|ref| ${scale}`);
  });
}

const feedX = (b: number, s: number, seed = 3): Feed => ({ x: tensor('float32', [b, s, 4], uniform(rng(seed), b * s * 4)) });

/** Narrows a fresh copy of the model, checks it computes what the original does; returns the report and graph. */
async function narrowed(make: () => Model, feed: Feed, exactAcrossPadding = true) {
  const want = await outputsOf(make(), feed);
  const m = make();
  const report: NarrowReport = { selections: 0, narrowed: 0 };
  narrowToReadRows(m.graph, { opset: OPSET, exactAcrossPadding, report });
  assertClose(await outputsOf(m, feed), want);
  // The remaining one-row Slices, by what they read.
  const slicesOf = m.graph.nodes.filter((n) => n.opType === 'Slice' && n.name.startsWith('narrow/') && n.name.endsWith('/row')).map((n) => n.inputs[0]!.name).sort();
  return { report, graph: m.graph, slicesOf };
}

describe('row narrowing: what it proves and moves', () => {
  it('a row-wise chain (MatMul, bias Add, Relu, LayerNormalization) computes the one row it is read at', async () => {
    const make = () => model((b, x) => {
      const h = b.add(b.op('MatMul', [x, weight(b, [4, 4], 1)]), weight(b, [4], 2));
      const n = b.op('LayerNormalization', [b.op('Relu', [h]), weight(b, [4], 3), weight(b, [4], 4)], { axis: -1 });
      return row(b, n, 2);
    });
    const r = await narrowed(make, feedX(3, 5));
    assert.deepEqual(r.report, { selections: 1, narrowed: 4 });
    assert.deepEqual(r.slicesOf, ['x'], 'only the graph input is sliced');
  });

  // x's sequence axis is symbolic here, as in exported models; `seq` = 6 fixes it.
  const attention = (seq?: number) => () => model((b, x) => {
    if (seq) x.type = { ...x.type, shape: ['b', seq, 4] };
    const heads = (seed: number, perm: number[]) => b.transpose(b.reshape(b.op('MatMul', [x, weight(b, [4, 4], seed)]), [0, 0, 2, 2]), perm);
    const q = heads(1, [0, 2, 1, 3]);
    const k = heads(2, [0, 2, 3, 1]);
    const v = heads(3, [0, 2, 1, 3]);
    const p = b.op('Softmax', [b.op('MatMul', [q, k])], { axis: -1 });
    const ctx = b.reshape(b.transpose(b.op('MatMul', [p, v], {}, 'context'), [0, 2, 1, 3]), [0, 0, 4]);
    return row(b, b.add(ctx, x), 1);
  });

  it('attention over a run-time sequence axis stays whole where results must not depend on the padding', async () => {
    const r = await narrowed(attention(), feedX(2, 6));
    // Add, Reshape, Transpose; the probabilities-times-values product sums over the sequence and stays whole.
    assert.deepEqual(r.report, { selections: 1, narrowed: 3 });
    assert.deepEqual(r.slicesOf, ['f/context_out', 'x']);
  });

  for (const [what, seq, exact] of [['a fixed sequence axis', 6, true], ['a run-time sequence axis, padding-exactness not asked', undefined, false]] as const) {
    it(`attention over ${what}: queries, scores, softmax and context narrow; keys and values stay whole`, async () => {
      const r = await narrowed(attention(seq), feedX(2, 6), exact);
      // Add, Reshape, Transpose, MatMul(p, v), Softmax, MatMul(q, k), Transpose, Reshape, MatMul(x, Wq).
      assert.deepEqual(r.report, { selections: 1, narrowed: 9 });
      assert.deepEqual(r.slicesOf, ['x']);
      const full = r.graph.nodes.filter((n) => n.opType === 'MatMul' && n.outputs[0]!.type.shape?.[1] === (seq ?? 's'));
      assert.equal(full.length, 2, 'the key and value projections still see every position');
    });
  }

  it('an operand of unknown broadcast shape narrows for row 0 (a size-1 dim has that row too), not for row 2', async () => {
    const make = (k: number) => () => model((b, x, g) => row(b, b.op('Tanh', [b.add(x, g.get('m')!)]), k), { m: [null, null, 4] });
    for (const mRows of [1, 5]) {
      const feed = { ...feedX(2, 5), m: tensor('float32', [2, mRows, 4], uniform(rng(8), 2 * mRows * 4)) };
      const zero = await narrowed(make(0), feed);
      assert.deepEqual(zero.report, { selections: 1, narrowed: 2 }, `row 0, m with ${mRows} rows`);
      assert.deepEqual(zero.slicesOf, ['m', 'x']);
      const two = await narrowed(make(2), feed);
      assert.deepEqual(two.report, { selections: 1, narrowed: 1 }, `row 2, m with ${mRows} rows: the Tanh only`);
    }
  });

  it('leaves alone what mixes rows or is needed whole', async () => {
    const feed = feedX(2, 6);
    const cases: [string, () => Model][] = [
      ['Softmax over the read axis', () => model((b, x) => row(b, b.op('Softmax', [x], { axis: 1 }), 0))],
      ['LayerNormalization over the read axis and the last', () => model((b, x) => row(b, b.op('LayerNormalization', [x, weight(b, [6, 4], 1)], { axis: 1 }), 0))],
      ['a Reshape that regroups the read axis', () => model((b, x) => row(b, b.reshape(b.op('Relu', [x]), [0, 3, 8]), 1))],
      ['a tensor that is also a graph output', () => model((b, x) => {
        const h = b.op('Relu', [x]);
        return [row(b, h, 0), h];
      })],
      ['two different rows of one tensor', () => model((b, x) => {
        const h = b.op('Relu', [x]);
        return [row(b, h, 0), row(b, h, 3)];
      })],
    ];
    for (const [what, make] of cases) {
      const r = await narrowed(make, feed);
      assert.equal(r.report.narrowed, 0, what);
    }
  });
});

const TEACHER = path.join(MODELS, 'bert-teacher', 'model.onnx');

/** The teacher session on `teacherFile` gives the logits ORT gives for `file` itself; returns its outputs. */
async function teacherAgainstOriginal(file: string, teacherFile: string, batch: number, seq: number): Promise<readonly string[]> {
  const original = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  const teacher = await createTeacherSession(teacherFile, { threads: 1 });
  const feed = tokenBatch(original.inputNames, batch, seq);
  const want = (await original.run(feed)).logits!.data as Float32Array;
  const got = (await teacher.run(feed)).logits!.data as Float32Array;
  assertClose([Array.from(got)], [Array.from(want)], 1e-5);
  const outputs = teacher.outputNames;
  await Promise.all([original.release(), teacher.release()]);
  return outputs;
}

describe('row narrowing on the exported classifiers (both exporters)', () => {
  const files = ['bert-student/model.onnx', 'bert-student/model.dynamo.onnx', 'distilbert-student/model.onnx', 'distilbert-student/model.dynamo.onnx', 'bert-teacher/model.onnx'];
  for (const f of files) {
    for (const exact of [true, false]) {
      it(`${f}${exact ? '' : ', attention too'}: the last layer runs for the [CLS] row only, with the same logits`, async () => {
        const file = path.join(MODELS, f);
        const original = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
        const feed = tokenBatch(original.inputNames, 3, 9);
        const want = (await original.run(feed)).logits!.data as Float32Array;
        const m = modelFromProto(loadModel(file).model);
        m.graph.setOutputs(m.graph.outputs.filter((o) => o.name === 'logits'));
        const report: NarrowReport = { selections: 0, narrowed: 0 };
        narrowToReadRows(m.graph, { opset: m.opset('')!, exactAcrossPadding: exact, report });
        assert.equal(report.selections, 1);
        const s = await session(m);
        const got = (await s.run(feed)).logits!.data as Float32Array;
        assertClose([Array.from(got)], [Array.from(want)], 1e-5);
        // Padding-exact: the output projection and both feed-forward products on one position ([batch, 1, n]),
        // the attention (over the run-time sequence axis) whole. Otherwise the query's product too, and the
        // scores and context on one query row ([batch, heads, 1, n]).
        const matmuls = m.graph.nodes.filter((n) => n.opType === 'MatMul').map((n) => n.outputs[0]!.type.shape ?? []);
        assert.equal(matmuls.filter((d) => d.length === 3 && d[1] === 1).length, exact ? 3 : 4, 'token-wise products on one row');
        assert.equal(matmuls.filter((d) => d.length === 4 && d[2] === 1).length, exact ? 0 : 2, 'attention products on one query row');
      });
    }
  }

  it('the teacher session computes only the logits, narrowed, and gives the same logits', async () => {
    const outputs = await teacherAgainstOriginal(TEACHER, TEACHER, 4, 11);
    assert.deepEqual(outputs, ['logits']);
  });

  it('a teacher with its weights in an external data file: the session reads them from there, same logits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'narrow-teacher-'));
    const external = path.join(dir, 'model.onnx');
    saveModel(loadModel(TEACHER).model, external, { externalData: { threshold: 1024 } });
    const t = teacherModel(external);
    assert.equal(t.externalDataFolder, dir);
    assert.ok(t.bytes.length < fs.statSync(TEACHER).size / 10, 'the weights stay in the data file');
    await teacherAgainstOriginal(TEACHER, external, 3, 10);
  });

  it('the teacher\'s logits of an example do not depend on how far its batch is padded, bit for bit', async () => {
    // A resumed run recomputes teacher logits in batches padded differently from the uninterrupted run's;
    // its weights are the same only if these agree exactly (train-trainer.test.ts, kill -9 and resume).
    const teacher = await createTeacherSession(TEACHER, { threads: 2 });
    const one = (S: number, len: number, seed: number): Feed => {
      const ids = Array.from({ length: S }, (_, s) => (s < len ? 1 + ((seed * 31 + s * 17) % 1500) : 0));
      return { input_ids: tensor('int64', [1, S], ids), attention_mask: tensor('int64', [1, S], ids.map((i) => (i ? 1 : 0))) };
    };
    const differing: string[] = [];
    for (let seed = 0; seed < 12; seed++) {
      const len = 3 + ((seed * 37) % 120);
      const want = (await teacher.run(one(len, len, seed))).logits!.data as Float32Array;
      for (const S of [len + 1, 100, 127, 128].filter((x) => x > len)) {
        const got = (await teacher.run(one(S, len, seed))).logits!.data as Float32Array;
        if (got.some((v, i) => v !== want[i])) differing.push(`length ${len} padded to ${S}`);
      }
    }
    assert.deepEqual(differing, []);
    await teacher.release();
  });
});

describe('shape inference the narrowing relies on', () => {
  it('a first- or last-element Slice of a symbolic dim has length 1', () => {
    const g = new Graph('infer');
    const x = g.addInput('x', { elemType: DataType.FLOAT, shape: ['b', 's', 4] });
    const b = new Builder(g, { opset: OPSET, prefix: 'f/' });
    const first = b.op('Slice', [x, b.int64([0]), b.int64([1]), b.int64([1])]);
    const last = b.op('Slice', [x, b.int64([-1]), b.int64([2 ** 40]), b.int64([1])]);
    const second = b.op('Slice', [x, b.int64([1]), b.int64([2]), b.int64([1])]);
    inferTypes(g, OPSET);
    assert.deepEqual([first.type.shape, last.type.shape, second.type.shape], [['b', 1, 4], ['b', 1, 4], ['b', null, 4]]);
  });

  it('a shape tensor whose data stayed in an external file is unknown, not an error', () => {
    const g = new Graph('infer');
    const x = g.addInput('x', { elemType: DataType.FLOAT, shape: ['b', 's', 4] });
    const target = g.addInitializer({ ...makeTensor('target', DataType.INT64, [3], new BigInt64Array(0)), dataLocation: 1 });
    const b = new Builder(g, { opset: OPSET, prefix: 'f/' });
    const y = b.reshape(x, target);
    assert.doesNotThrow(() => inferTypes(g, OPSET));
    assert.ok((y.type.shape ?? []).every((d) => d === null), `no dims claimed: ${JSON.stringify(y.type.shape)}`);
  });
});
