/**
 * compactNames (src/onnx/compact-names.ts) on the exports users have: the renamed model computes the same
 * logits bit for bit, keeps the names a consumer feeds, fetches or maps weights by, keeps the names an If
 * body reads from outside (DeBERTa-v2's TorchScript export), and drops the dynamo exporter's metadata.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { typeProtoOf } from '../src/ir/convert.js';
import { compactNames } from '../src/onnx/compact-names.js';
import { DataType } from '../src/onnx/dtype.js';
import { encodeModel, loadModel } from '../src/onnx/model-io.js';
import type { GraphProto, ModelProto } from '../src/onnx/proto.js';
import { makeTensor } from '../src/onnx/tensor.js';
import { MODELS } from './helpers/fixtures.js';
import { tensor } from './helpers/ort.js';

async function outputs(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, number[]>> {
  const s = await ort.InferenceSession.create(encodeModel(model));
  try {
    const r = await s.run(feeds);
    return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
  } finally {
    await s.release();
  }
}

/** Names the nested bodies of `g` mention (they may read any of them from `g`'s scope). */
function bodyNames(g: GraphProto): Set<string> {
  const names = new Set<string>();
  const walk = (body: GraphProto) => {
    for (const n of body.node) {
      for (const x of [...n.input, ...n.output]) names.add(x);
      for (const a of n.attribute) for (const b of [...(a.g ? [a.g] : []), ...a.graphs]) walk(b);
    }
  };
  for (const n of g.node) for (const a of n.attribute) for (const b of [...(a.g ? [a.g] : []), ...a.graphs]) walk(b);
  return names;
}

describe('compactNames on users\' exports', () => {
  const cases = [
    ['deberta-v2/torchscript.onnx', 'an If body reading outer values'],
    ['bert/dynamo.onnx', 'value_info and per-node exporter metadata'],
    ['bert/torchscript.onnx', 'module-path names'],
  ] as const;
  const feeds = {
    input_ids: tensor('int64', [2, 5], [7, 8, 9, 10, 11, 12, 13, 14, 0, 0]),
    attention_mask: tensor('int64', [2, 5], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
  };

  for (const [file, what] of cases) {
    it(`${file} (${what}): same logits bit for bit; inputs, outputs, weights and outer-read names kept`, async () => {
      const src = path.join(MODELS, 'user', file);
      const original = loadModel(src).model;
      const model = loadModel(src).model;
      const g0 = original.graph!;
      const feed = Object.fromEntries(g0.input.filter((i) => i.name in feeds).map((i) => [i.name, feeds[i.name as keyof typeof feeds]]));
      const want = await outputs(original, feed);
      const outer = bodyNames(g0);

      const result = compactNames(model);
      const g = model.graph!;
      assert.deepEqual(await outputs(model, feed), want);
      assert.deepEqual(g.input.map((v) => v.name), g0.input.map((v) => v.name));
      assert.deepEqual(g.output.map((v) => v.name), g0.output.map((v) => v.name));
      assert.deepEqual(g.initializer.map((t) => t.name), g0.initializer.map((t) => t.name));
      assert.ok(result.values > 50, `${result.values} values renamed`);

      const kept = new Set([...g0.input, ...g0.output].map((v) => v.name).concat(g0.initializer.map((t) => t.name!)));
      g.node.forEach((n, i) => {
        const before = g0.node[i]!;
        assert.equal(n.opType, before.opType);
        n.output.forEach((o, k) => {
          const was = before.output[k]!;
          if (kept.has(was) || outer.has(was)) assert.equal(o, was, `${was} keeps its name`);
          else assert.ok(o.length <= 3, `${was} -> ${o}`);
        });
        assert.ok(!n.metadataProps?.length && !n.docString, `${n.name} has no metadata left`);
      });
      if (outer.size) assert.ok([...outer].some((x) => g.node.some((n) => n.output.includes(x))), 'the If body still reads an outer value by its name');
      assert.equal(new Set(g.node.map((n) => n.name)).size, g.node.length, 'node names are unique');
      assert.ok(g.valueInfo.every((v) => v.name.length <= 3 || kept.has(v.name) || outer.has(v.name)), 'value_info follows the renaming');
      const graphBytes = (m: ModelProto) => encodeModel({ ...m, graph: { ...m.graph!, initializer: [] } }).length;
      assert.ok(graphBytes(model) < graphBytes(original) / 2, `the graph without its weights: ${graphBytes(original)} -> ${graphBytes(model)} bytes`);
    });
  }
});

it('fresh names skip names the model already uses (an input "1", an initializer "0")', async () => {
  const f = (name: string) => ({ name, type: typeProtoOf({ elemType: DataType.FLOAT, shape: [2] }) });
  const model: ModelProto = {
    irVersion: 9, opsetImport: [{ domain: '', version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
    graph: {
      node: [
        { opType: 'Add', input: ['1', '0'], output: ['/a/Add_output_0'], name: '/a/Add', attribute: [] },
        { opType: 'Mul', input: ['/a/Add_output_0', '0'], output: ['/a/Mul_output_0'], name: '/a/Mul', attribute: [] },
        { opType: 'Sub', input: ['/a/Mul_output_0', '1'], output: ['y'], name: '/a/Sub', attribute: [] },
      ],
      initializer: [makeTensor('0', DataType.FLOAT, [2], new Float32Array([2, 3]))],
      sparseInitializer: [], valueInfo: [f('/a/Add_output_0')], input: [f('1')], output: [f('y')],
    },
  };
  compactNames(model);
  const g = model.graph!;
  assert.deepEqual(g.node.map((n) => n.output[0]), ['2', '3', 'y']);
  assert.deepEqual(g.node.map((n) => n.input), [['1', '0'], ['2', '0'], ['3', '1']]);
  assert.deepEqual(g.valueInfo.map((v) => v.name), ['2']);
  // ((x + w) * w) - x with x = [1, 4], w = [2, 3]: [5, 17]
  assert.deepEqual((await outputs(model, { 1: tensor('float32', [2], [1, 4]) })).y, [5, 17]);
});
