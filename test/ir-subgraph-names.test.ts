import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { modelFromProto, modelToProto } from '../src/ir/convert.js';
import { encodeModel, loadModel } from '../src/onnx/model-io.js';
import { MODELS } from './helpers/fixtures.js';
import { tensor } from './helpers/ort.js';

describe('Graph.rename and subgraphs', () => {
  it("renaming every value keeps an If body's outer references (DeBERTa-v2's TorchScript export) valid", async () => {
    const file = path.join(MODELS, 'user', 'deberta-v2', 'torchscript.onnx');
    const model = modelFromProto(loadModel(file).model);
    const ifNode = model.graph.nodes.find((n) => n.opType === 'If' && n.implicitInputs.length > 0);
    assert.ok(ifNode, 'the fixture has an If reading outer values');
    const g = model.graph;
    const inputs = new Set(g.inputs.map((v) => v.name));
    for (const v of [...g.values.values()]) if (!inputs.has(v.name) && !g.outputs.includes(v)) g.rename(v, `renamed/${v.name}`);
    const feed = {
      input_ids: tensor('int64', [2, 5], [7, 8, 9, 10, 11, 12, 13, 14, 0, 0]),
      attention_mask: tensor('int64', [2, 5], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
    };
    const run = async (bytes: Uint8Array) => {
      const s = await ort.InferenceSession.create(bytes);
      const out = (await s.run(feed)).logits as ort.Tensor;
      await s.release();
      return Array.from(out.data as Float32Array);
    };
    const want = await run(encodeModel(loadModel(file).model));
    assert.deepEqual(await run(encodeModel(modelToProto(model))), want);
  });
});
