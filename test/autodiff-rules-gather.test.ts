import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '../src/errors.js';
import { differentiate } from '../src/autodiff/differentiate.js';
import { ONE_HOT_MAX_ROWS } from '../src/autodiff/rules/gather.js';
import { Builder } from '../src/ir/builder.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { modelToProto, newModel } from '../src/ir/convert.js';
import { encodeModel } from '../src/onnx/model-io.js';
import { createSession } from '../src/runtime/session.js';
import { gradcheck } from './helpers/gradcheck.js';
import { tensor } from './helpers/ort.js';
import { both, kind } from './helpers/rule-cases.js';
import { eliminateDeadCode } from '../src/ir/passes.js';

describe('gradient rules: Gather, GatherElements', () => {
  for (const opset of [16, 17, 21]) {
    it(`Gather repeated indices [1,1,3] into a [5,4] table accumulate, opset ${opset}`, async () => {
      const r = await gradcheck({
        opset,
        params: { w: [5, 4] },
        consts: { idx: { dtype: 'int64', shape: [3], data: [1, 1, 3] } },
        forward: (b, v) => b.op('Gather', [v.w!, v.idx!], { axis: 0 }),
      });
      assert.ok(r.checked === 20);
    });
  }
  for (const dynamic of both) {
    it(`Gather embedding lookup: table [7,3], token ids [2,4] int64 with repeats (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { emb: [7, 3] },
        consts: { ids: { dtype: 'int64', shape: [2, 4], data: [1, 5, 5, 0, 6, 1, 1, 1] } },
        forward: (b, v) => b.op('Gather', [v.emb!, v.ids!]),
      });
    });
    it(`Gather scalar index 0 on axis 1 (CLS token pick of [B,S,H]) (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { h: [2, 3, 4] },
        forward: (b, v) => b.op('Gather', [v.h!, b.int64([0], true)], { axis: 1 }),
      });
    });
    it(`Gather negative indices [-1,0,-1] (repeat after normalizing) on axis -1 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 3, 5] },
        consts: { idx: { dtype: 'int64', shape: [3], data: [-1, 0, 4] } },
        forward: (b, v) => b.op('Gather', [v.x!, v.idx!], { axis: -1 }),
      });
    });
    it(`Gather 2-D indices on a middle axis of a rank-4 tensor (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 4, 3, 2] },
        consts: { idx: { dtype: 'int64', shape: [2, 3], data: [3, 0, 3, 1, 1, -4] } },
        forward: (b, v) => b.op('Gather', [v.x!, v.idx!], { axis: 1 }),
      });
    });
  }
  it('Gather with run-time int32 indices (fed: values unknown at build time, repeated, negative)', async () => {
    await gradcheck({
      dynamic: true,
      params: { emb: [6, 2] },
      feeds: { ids: { dtype: 'int32', shape: [2, 3], data: [2, -1, 2, 0, 5, 2] } },
      forward: (b, v) => b.op('Gather', [v.emb!, v.ids!]),
    });
  });
  for (const [axis, idx] of [[1, [[2, 0], [2, -1]]], [-1, [3, -1, 0, 3]], [2, 1]] as const) {
    it(`Gather on axis ${axis} of data whose rank is unknown at build time, indices ${JSON.stringify(idx)} (rank-free path)`, async () => {
      const flat = [idx].flat(2) as number[];
      const shape = Array.isArray(idx) ? (Array.isArray(idx[0]) ? [2, 2] : [flat.length]) : [];
      await gradcheck({
        params: { x: [2, 3, 4] },
        consts: { idx: { dtype: 'int64', shape, data: flat } },
        feeds: { s: { dtype: 'int64', shape: [3], data: [2, 3, 4] } },
        forward: (b, v) => b.op('Gather', [b.reshape(v.x!, v.s!), v.idx!], { axis }),
      });
    });
  }
  it('Gather of an embedding table at BERT-base width sums every repeated row exactly with 2 threads (ORT ScatterND add races there)', async () => {
    // 1,024 lookups of 768-wide rows, nearly all of row 0 (as token_type_embeddings), in a table long enough
    // for the scatter route. Integer seeds make every exact sum a float32 integer, so any lost update shows.
    // ONNX Runtime's ScatterND with reduction="add" got 754-760 of row 0's 768 sums wrong here (differently
    // per run); the rule must not use it.
    const [V, D, N] = [ONE_HOT_MAX_ROWS + 2, 768, 1024];
    const g = new Graph('embedding_grad');
    const b = new Builder(g, { opset: 17 });
    const table = g.value('table');
    table.type = { elemType: DataType.FLOAT, shape: [V, D] };
    g.appendInputs(table);
    const ids = g.value('ids');
    ids.type = { elemType: DataType.INT64, shape: [N] };
    g.appendInputs(ids);
    const seed = g.value('seed');
    seed.type = { elemType: DataType.FLOAT, shape: [N, D] };
    g.appendInputs(seed);
    const rows = b.op('Gather', [table, ids], { axis: 0 });
    const grad = differentiate(g, { seeds: new Map([[rows, seed]]), wrt: [table], opset: 17 }).gradients.get('table')!;
    g.setOutputs([grad]);
    eliminateDeadCode(g);
    const idx = Array.from({ length: N }, (_, n) => (n % 97 === 0 ? V - 1 : 0));
    const seeds = Array.from({ length: N * D }, (_, i) => ((i * 7919) % 7) - 3);
    const want = new Float64Array(V * D);
    idx.forEach((row, n) => { for (let d = 0; d < D; d++) want[row * D + d] += seeds[n * D + d]!; });
    const s = await createSession(encodeModel(modelToProto(newModel(g, 17))), { threads: 2 });
    for (let run = 0; run < 3; run++) {
      const out = await s.run({ table: tensor('float32', [V, D], new Float32Array(V * D)), ids: tensor('int64', [N], idx), seed: tensor('float32', [N, D], seeds) });
      const got = out[grad.name]!.data as Float32Array;
      const wrong = Array.from(got).filter((x, i) => x !== want[i]).length;
      assert.equal(wrong, 0, `run ${run}: ${wrong} of ${V * D} gradient elements differ from the exact sums`);
    }
  });

  it('Gather at opset 13: a scalar index and constant distinct indices scatter without reduction', async () => {
    await gradcheck({
      opset: 13,
      params: { h: [2, 3, 4] },
      consts: { idx: { dtype: 'int64', shape: [2], data: [2, -3] } },
      forward: (b, v) => [
        b.op('Gather', [v.h!, b.int64([0], true)], { axis: 1 }),
        b.op('Gather', [v.h!, v.idx!], { axis: 1 }),
      ],
    });
  });
  it('Gather at opset 13 with indices that may repeat: a short table takes the one-hot product (no reduction needed)', async () => {
    await gradcheck({
      opset: 13,
      params: { emb: [5, 4] },
      consts: { idx: { dtype: 'int64', shape: [3], data: [1, 1, -2] } },
      forward: (b, v) => b.op('Gather', [v.emb!, v.idx!]),
    });
  });
  it('Gather at opset 13 with indices that may repeat into a long table throws a GraphError asking for opset >= 16', async () => {
    await assert.rejects(
      gradcheck({
        opset: 13,
        params: { emb: [ONE_HOT_MAX_ROWS + 1, 2] },
        consts: { idx: { dtype: 'int64', shape: [3], data: [1, 1, 3] } },
        forward: (b, v) => b.op('Gather', [v.emb!, v.idx!]),
      }),
      (e: unknown) => e instanceof GraphError && /opset >= 16/.test(e.message) && /Gather node/.test(e.message),
    );
  });
  for (const rows of [6, 1500]) {
    for (const axis of [0, 1]) {
      it(`Gather gradient of a ${rows}-entry table on axis ${axis} (${rows > ONE_HOT_MAX_ROWS ? 'ScatterElements' : 'one-hot MatMul'}) equals the exact sums`, async () => {
        // 2-D indices with repeats, negatives and both ends; integer seeds, so every exact sum is exact in float32.
        const xShape = axis === 0 ? [rows, 3] : [2, rows, 3];
        const idx = [1, -1, 1, 0, rows - 1, 2, 1, -rows];
        const yShape = [...xShape.slice(0, axis), 2, 4, ...xShape.slice(axis + 1)];
        const g = new Graph('gather_grad');
        const b = new Builder(g, { opset: 17 });
        const input = (name: string, elemType: DataType, shape: number[]) => {
          const v = g.value(name);
          v.type = { elemType, shape };
          g.appendInputs(v);
          return v;
        };
        const x = input('x', DataType.FLOAT, xShape);
        const ind = input('ind', DataType.INT64, [2, 4]);
        const seed = input('seed', DataType.FLOAT, yShape);
        const y = b.op('Gather', [x, ind], { axis });
        const grad = differentiate(g, { seeds: new Map([[y, seed]]), wrt: [x], opset: 17 }).gradients.get('x')!;
        g.setOutputs([grad]);
        eliminateDeadCode(g);
        const scatter = g.nodes.some((n) => n.opType === 'ScatterElements');
        assert.equal(scatter, rows > ONE_HOT_MAX_ROWS, 'the route taken');
        // A 2-D table on axis 0 scatters in its own shape: no Reshape (a copy where the gradient is a model output).
        if (scatter && axis === 0) assert.equal(grad.producer?.opType, 'ScatterElements');
        const count = (shape: number[]) => shape.reduce((p, q) => p * q, 1);
        const seeds = Array.from({ length: count(yShape) }, (_, i) => ((i * 37) % 11) - 5);
        // want[p, idx[n] mod rows, r] += seed[p, n, r]
        const [P, R] = [count(xShape.slice(0, axis)), count(xShape.slice(axis + 1))];
        const want = new Float64Array(count(xShape));
        for (let p = 0; p < P; p++) for (let n = 0; n < idx.length; n++) for (let r = 0; r < R; r++) {
          want[(p * rows + ((idx[n]! + rows) % rows)) * R + r] += seeds[(p * idx.length + n) * R + r]!;
        }
        const sess = await createSession(encodeModel(modelToProto(newModel(g, 17))), { threads: 2 });
        const out = await sess.run({ x: tensor('float32', xShape, new Float32Array(count(xShape))), ind: tensor('int64', [2, 4], idx), seed: tensor('float32', yShape, seeds) });
        assert.deepEqual(Array.from(out[grad.name]!.data as Float32Array), Array.from(want));
      });
    }
  }

  for (const dynamic of both) {
    it(`GatherElements axis 1 with repeated and negative indices (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 4] },
        consts: { idx: { dtype: 'int64', shape: [3, 5], data: [0, 0, 3, -1, 1, 2, 2, 2, 2, 2, -4, 1, 0, 3, 3] } },
        forward: (b, v) => b.op('GatherElements', [v.x!, v.idx!], { axis: 1 }),
      });
    });
    it(`GatherElements axis -3 of a rank-3 tensor with int32 indices (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 2, 2] },
        consts: { idx: { dtype: 'int32', shape: [2, 2, 2], data: [0, 2, 2, 2, 1, 1, 0, 0] } },
        forward: (b, v) => b.op('GatherElements', [v.x!, v.idx!], { axis: -3 }),
      });
    });
  }
  it('GatherElements at opset 13 throws a GraphError asking for opset >= 16', async () => {
    await assert.rejects(
      gradcheck({
        opset: 13,
        params: { x: [3, 4] },
        consts: { idx: { dtype: 'int64', shape: [3, 1], data: [0, 1, 1] } },
        forward: (b, v) => b.op('GatherElements', [v.x!, v.idx!], { axis: 1 }),
      }),
      (e: unknown) => e instanceof GraphError && /opset >= 16/.test(e.message),
    );
  });
});
