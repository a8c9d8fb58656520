import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '../src/errors.js';
import { differentiate } from '../src/autodiff/differentiate.js';
import { ONE_HOT_MAX_ROWS } from '../src/autodiff/rules/gather.js';
import { Builder } from '../src/ir/builder.js';
import { Graph, type Node, type Value } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { makeTensor } from '../src/onnx/tensor.js';
import { modelToProto, newModel } from '../src/ir/convert.js';
import { encodeModel } from '../src/onnx/model-io.js';
import { createSession } from '../src/runtime/session.js';
import { typedFromNumbers } from '../src/onnx/tensor.js';
import { gradcheck } from './helpers/gradcheck.js';
import { session, tensor } from './helpers/ort.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** An int64 constant from bigints (numbers cannot hold INT64_MAX, which exporters write as "to the end"). */
const i64 = (b: Builder, values: (number | bigint)[]): Value =>
  b.constant(makeTensor('', DataType.INT64, [values.length], BigInt64Array.from(values, (v) => BigInt(v))));

const both = [false, true] as const;

const DT = { int64: DataType.INT64, int32: DataType.INT32, float64: DataType.DOUBLE, float32: DataType.FLOAT, bool: DataType.BOOL };

/** Builds x -> forward(x) and differentiates it (no ONNX Runtime), for rules that must refuse a node. */
function differentiateOnly(shape: number[], forward: (b: Builder, x: Value) => Value, opset = 17): void {
  const g = new Graph('refuse');
  const x = g.value('x');
  x.type = { elemType: DataType.DOUBLE, shape };
  g.inputs.push(x);
  const y = forward(new Builder(g, { opset, prefix: 'fwd/' }), x);
  g.outputs = [y];
  differentiate(g, { loss: y, wrt: [x], opset });
}
const kind = (dynamic: boolean) => (dynamic ? 'run-time shapes' : 'static shapes');

describe('gradient rules: Reshape, Flatten, Squeeze, Unsqueeze', () => {
  for (const dynamic of both) {
    it(`Reshape [2,3,4] -> [4,6] (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.reshape(v.x!, [4, 6]) });
    });
    it(`Reshape with 0 (copy) and -1 in the target, HF head split [2,3,4] -> [2,3,2,2] (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.reshape(v.x!, [0, 0, 2, -1]) });
    });
    it(`Flatten axis 2 and axis -1 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 3, 4], z: [3, 2, 2] },
        forward: (b, v) => [b.op('Flatten', [v.x!], { axis: 2 }), b.op('Flatten', [v.z!], { axis: -1 })],
      });
    });
  }
  for (const opset of [13, 17, 21]) {
    for (const dynamic of both) {
      it(`Squeeze axes [1,-1] and Unsqueeze axes [0,-1] as inputs, opset ${opset} (${kind(dynamic)})`, async () => {
        await gradcheck({
          opset,
          dynamic,
          params: { x: [2, 1, 3, 1], z: [2, 3] },
          forward: (b, v) => [b.squeeze(v.x!, [1, -1]), b.unsqueeze(v.z!, [0, -1])],
        });
      });
    }
  }
  it('Squeeze without axes (all 1-dims, static)', async () => {
    await gradcheck({ params: { x: [1, 3, 1, 2] }, forward: (b, v) => b.op('Squeeze', [v.x!]) });
  });
  it('Reshape to a target computed from Shape(x) (exporter style): the backward reuses that Shape node', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [2, 3, 4] },
      forward: (b, v) => {
        const s = b.op('Shape', [v.x!]);
        const lead = b.op('Slice', [s, b.int64([0]), b.int64([2])]);
        return b.reshape(b.transpose(b.reshape(v.x!, b.op('Concat', [lead, b.int64([2, 2])], { axis: 0 })), [0, 2, 1, 3]), [0, 0, -1]);
      },
    });
  });
  it('Reshape chained with a Mul (the reshaped gradient feeds another rule)', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [2, 6], w: [3, 4] },
      forward: (b, v) => b.mul(b.reshape(v.x!, [3, 4]), v.w!),
    });
  });
});

describe('gradient rules: Transpose, Expand', () => {
  for (const dynamic of both) {
    it(`Transpose perm [0,2,1,3] (attention heads) (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4, 2] }, forward: (b, v) => b.transpose(v.x!, [0, 2, 1, 3]) });
    });
    it(`Transpose perm [2,0,1] (a 3-cycle, whose inverse differs) (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.transpose(v.x!, [2, 0, 1]) });
    });
    it(`Transpose without perm (reversed axes) (${kind(dynamic)})`, async () => {
      await gradcheck({ dynamic, params: { x: [2, 3, 4] }, forward: (b, v) => b.op('Transpose', [v.x!]) });
    });
    it(`Expand [3,1] to [2,3,4] and [4] to [3,1] -> [3,4] (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 1], z: [4] },
        forward: (b, v) => [b.op('Expand', [v.x!, b.int64([2, 3, 4])]), b.op('Expand', [v.z!, b.int64([3, 1])])],
      });
    });
  }
  it('Expand to a run-time shape (fed, unknown at build time)', async () => {
    await gradcheck({
      params: { x: [1, 3, 1] },
      feeds: { s: { dtype: 'int64', shape: [4], data: [2, 1, 3, 4] } },
      forward: (b, v) => b.op('Expand', [v.x!, v.s!]),
    });
  });
  it('a transpose of a transpose is built as one transpose of the inner input, or none where the two cancel', async () => {
    const g = new Graph('transpose-twice');
    const x = g.value('x');
    x.type = { elemType: DataType.FLOAT, shape: [2, 3, 4] };
    g.inputs.push(x);
    const b = new Builder(g, { opset: 17 });
    assert.equal(b.transpose(b.transpose(x, [2, 0, 1]), [1, 2, 0]), x);
    const y = b.transpose(b.transpose(x, [1, 2, 0]), [1, 2, 0]);
    assert.equal(y.producer?.inputs[0], x);
    g.outputs = [y];
    g.eliminateDeadCode();
    assert.equal(g.nodes.length, 1);
    const xs = Array.from({ length: 24 }, (_, i) => i);
    const out = (await (await session(newModel(g, 17))).run({ x: tensor('float32', [2, 3, 4], xs) }))[y.name]!;
    // Transposing by [1,2,0] twice is transposing by [2,0,1]: y[c][a][b] = x[a][b][c].
    const want: number[] = [];
    for (let c = 0; c < 4; c++) for (let a = 0; a < 2; a++) for (let r = 0; r < 3; r++) want.push(xs[a * 12 + r * 4 + c]!);
    assert.deepEqual([...out.dims], [4, 2, 3]);
    assert.deepEqual(Array.from(out.data as Float32Array), want);
  });
  it('Transpose with a perm that is not a permutation throws a GraphError naming the node', () => {
    assert.throws(
      () => differentiateOnly([2, 3], (b, x) => b.op('Transpose', [x], { perm: [0, 0] }, 'bad_perm')),
      (e: unknown) => e instanceof GraphError && /Transpose node 'fwd\/bad_perm'/.test(e.message) && /not a permutation/.test(e.message),
    );
  });
});

describe('gradient rules: Concat, Split', () => {
  for (const opset of [13, 18]) {
    for (const dynamic of both) {
      it(`Concat of three inputs on axis 1, opset ${opset} (${kind(dynamic)})`, async () => {
        await gradcheck({
          opset,
          dynamic,
          params: { a: [2, 1, 3], b: [2, 3, 3], c: [2, 2, 3] },
          forward: (b, v) => b.op('Concat', [v.a!, v.b!, v.c!], { axis: 1 }),
        });
      });
    }
  }
  for (const dynamic of both) {
    it(`Concat on axis -1 where the middle input needs no gradient (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { a: [2, 3, 2], k: [2, 3, 4], c: [2, 3, 1] },
        wrt: ['a', 'c'],
        forward: (b, v) => b.op('Concat', [v.a!, v.k!, v.c!], { axis: -1 }),
      });
    });
    it(`Concat on axis 0 with an empty input (past_key_values of length 0) (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { past: [0, 3], x: [2, 3] },
        forward: (b, v) => b.op('Concat', [v.past!, v.x!], { axis: 0 }),
      });
    });
  }
  it('Concat mixing a static extent and one of unknown rank (a Shape-derived split size)', async () => {
    await gradcheck({
      params: { a: [2, 3], c: [3, 2] },
      feeds: { s: { dtype: 'int64', shape: [2], data: [2, 3] } },
      forward: (b, v) => b.op('Concat', [v.a!, b.reshape(v.c!, v.s!), v.a!], { axis: 1 }),
    });
  });

  for (const opset of [13, 17]) {
    for (const dynamic of both) {
      it(`Split sizes [2,1,3] on axis 1, all outputs used, opset ${opset} (${kind(dynamic)})`, async () => {
        await gradcheck({
          opset,
          dynamic,
          params: { x: [2, 6, 3] },
          forward: (b, v) => b.opN('Split', [v.x!, b.int64([2, 1, 3])], 3, { axis: 1 }),
        });
      });
      it(`Split on axis -1 with the middle output unused (zeros), opset ${opset} (${kind(dynamic)})`, async () => {
        await gradcheck({
          opset,
          dynamic,
          params: { x: [2, 3, 6] },
          forward: (b, v) => {
            const [p, , r] = b.opN('Split', [v.x!, b.int64([1, 2, 3])], 3, { axis: -1 });
            return [p!, r!];
          },
        });
      });
    }
  }
  it('Split equal parts without sizes (opset 13) keeps only the last output (q,k,v -> v)', async () => {
    await gradcheck({
      opset: 13,
      params: { x: [2, 9] },
      forward: (b, v) => b.opN('Split', [v.x!], 3, { axis: 1 })[2]!,
    });
  });
  for (const dynamic of both) {
    it(`Split with num_outputs (opset 18), first output unused (${kind(dynamic)})`, async () => {
      await gradcheck({
        opset: 18,
        dynamic,
        params: { x: [4, 6] },
        forward: (b, v) => b.opN('Split', [v.x!], 3, { axis: 1, num_outputs: 3 }).slice(1),
      });
    });
  }
  it('Split: an unused output holding inf still gives zero (not NaN) gradients there (no Sub(y, y))', async () => {
    await gradcheck({
      params: { x: [2, 4] },
      consts: { c: { dtype: 'float64', shape: [4], data: [0, 0, Infinity, Infinity] } },
      forward: (b, v) => b.opN('Split', [b.add(v.x!, v.c!), b.int64([2, 2])], 2, { axis: 1 })[0]!,
    });
  });
});

describe('gradient rules: Slice', () => {
  for (const dynamic of both) {
    it(`Slice one axis [1:3] of axis 1 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 5, 3] },
        forward: (b, v) => b.op('Slice', [v.x!, b.int64([1]), b.int64([3]), b.int64([1])]),
      });
    });
    it(`Slice [1:INT64_MAX] (drop the first token) and [0:2] on the last axis (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [2, 5, 4] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [1]), i64(b, [INT64_MAX]), i64(b, [1])]),
          b.op('Slice', [v.x!, i64(b, [0]), i64(b, [2]), i64(b, [-1])]),
        ],
      });
    });
    it(`Slice negative start [-2:INT64_MAX] and [0:-1] on two axes at once (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 5, 4] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [-2]), i64(b, [INT64_MAX]), i64(b, [-1])]),
          b.op('Slice', [v.x!, i64(b, [0, 1]), i64(b, [-1, 4]), i64(b, [0, 1])]),
        ],
      });
    });
    it(`Slice with out-of-range start/end (clamped) and an empty result on one axis (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 4] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [-10, 1]), i64(b, [10, 100]), i64(b, [0, 1])]),
          b.op('Add', [b.op('Slice', [v.x!, i64(b, [7]), i64(b, [9]), i64(b, [1])]), b.scalarLike(1, v.x!)]),
        ],
      });
    });
    it(`Slice step 2 on axis -1 and step -1 (reversal, INT64_MIN end) on axis 0 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 4, 5] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [1]), i64(b, [INT64_MAX]), i64(b, [-1]), i64(b, [2])]),
          b.op('Slice', [v.x!, i64(b, [-1]), i64(b, [INT64_MIN]), i64(b, [0]), i64(b, [-1])]),
        ],
      });
    });
    it(`Slice several axes with steps 1, -2, 3 and no axes input (${kind(dynamic)})`, async () => {
      await gradcheck({
        dynamic,
        params: { x: [3, 5, 7] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [1, 4, 0]), i64(b, [3, 0, 7]), i64(b, [0, 1, 2]), i64(b, [1, -2, 3])]),
          b.op('Slice', [v.x!, i64(b, [1, 1]), i64(b, [3, 4])]),
        ],
      });
    });
  }
  it('Slice with run-time starts/ends/axes/steps (fed, unknown at build time)', async () => {
    await gradcheck({
      params: { x: [4, 6] },
      feeds: {
        st: { dtype: 'int64', shape: [2], data: [-1, 1] },
        en: { dtype: 'int64', shape: [2], data: [-100, 6] },
        ax: { dtype: 'int64', shape: [2], data: [0, -1] },
        sp: { dtype: 'int64', shape: [2], data: [-2, 2] },
      },
      forward: (b, v) => b.op('Slice', [v.x!, v.st!, v.en!, v.ax!, v.sp!]),
    });
  });
  it('Slice with int32 starts/ends/axes on run-time shapes, step 1 from a middle start (Pad, one side at run time)', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [2, 6] },
      consts: {
        st: { dtype: 'int32', shape: [1], data: [2] },
        en: { dtype: 'int32', shape: [1], data: [5] },
        ax: { dtype: 'int32', shape: [1], data: [1] },
      },
      forward: (b, v) => b.op('Slice', [v.x!, v.st!, v.en!, v.ax!]),
    });
  });
  it('Slice on run-time shapes: [1:INT64_MAX] on axis 1 and [0:2] on axis 2 in one node (mixed Pad sides)', async () => {
    await gradcheck({
      dynamic: true,
      params: { x: [2, 5, 4] },
      forward: (b, v) => b.op('Slice', [v.x!, i64(b, [1, 0]), i64(b, [INT64_MAX, 2]), i64(b, [1, -1])]),
    });
  });
  for (const dynamic of both) {
    it(`Slice at opset 21: [1:INT64_MAX] (Pad) and step -2 (scatter) (${kind(dynamic)})`, async () => {
      await gradcheck({
        opset: 21,
        dynamic,
        params: { x: [4, 5] },
        forward: (b, v) => [
          b.op('Slice', [v.x!, i64(b, [1]), i64(b, [INT64_MAX]), i64(b, [1])]),
          b.op('Slice', [v.x!, i64(b, [-1]), i64(b, [INT64_MIN]), i64(b, [0]), i64(b, [-2])]),
        ],
      });
    });
  }
  it('static step-1 slices take the cheap Pad path (a handful of backward nodes)', async () => {
    const r = await gradcheck({
      params: { x: [2, 5, 4] },
      forward: (b, v) => b.op('Slice', [v.x!, i64(b, [1, 0]), i64(b, [INT64_MAX, 2]), i64(b, [1, -1])]),
    });
    assert.ok(r.backwardNodes <= 2, `expected Pad + its pads constant, got ${r.backwardNodes} nodes`);
  });
});

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
    g.inputs.push(table);
    const ids = g.value('ids');
    ids.type = { elemType: DataType.INT64, shape: [N] };
    g.inputs.push(ids);
    const seed = g.value('seed');
    seed.type = { elemType: DataType.FLOAT, shape: [N, D] };
    g.inputs.push(seed);
    const rows = b.op('Gather', [table, ids], { axis: 0 });
    const grad = differentiate(g, { seeds: new Map([[rows, seed]]), wrt: [table], opset: 17 }).gradients.get('table')!;
    g.outputs = [grad];
    g.eliminateDeadCode();
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
          g.inputs.push(v);
          return v;
        };
        const x = input('x', DataType.FLOAT, xShape);
        const ind = input('ind', DataType.INT64, [2, 4]);
        const seed = input('seed', DataType.FLOAT, yShape);
        const y = b.op('Gather', [x, ind], { axis });
        const grad = differentiate(g, { seeds: new Map([[y, seed]]), wrt: [x], opset: 17 }).gradients.get('x')!;
        g.outputs = [grad];
        g.eliminateDeadCode();
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

describe('gradient rules: float32 graphs (zeros and scatters take the float32 element type)', () => {
  for (const dynamic of both) {
    it(`Split with an unused output, Slice step 2, Gather with repeats, Concat, in float32 (${kind(dynamic)})`, async () => {
      await gradcheck({
        dtype: 'float32',
        dynamic,
        eps: 1e-2,
        params: { x: [4, 6] },
        consts: { idx: { dtype: 'int64', shape: [3], data: [3, 3, 0] } },
        forward: (b, v) => {
          const [p] = b.opN('Split', [v.x!, b.int64([2, 4])], 2, { axis: 1 });
          const s = b.op('Slice', [v.x!, i64(b, [0]), i64(b, [INT64_MAX]), i64(b, [1]), i64(b, [2])]);
          const g = b.op('Gather', [v.x!, v.idx!]);
          return [p!, s, b.op('Concat', [g, v.x!], { axis: 0 })];
        },
      });
    });
  }
});
