/** The in-place check (src/step/in-place.ts): which outputs may overwrite the inputs they were fed from. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildTrainingArtifacts } from '../src/step/artifacts.js';
import { inPlaceViolations } from '../src/step/in-place.js';
import { Builder } from '../src/ir/builder.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { MODELS } from './helpers/fixtures.js';
import { eliminateDeadCode } from '../src/ir/passes.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-build-'));
const model = (name: string) => path.join(MODELS, name, 'model.onnx');

describe('in-place check (build/in-place.ts)', () => {
  // y = Relu(x) + Neg(x): both readers of x are ancestors of y's producer, so y may overwrite x. Adding
  // z = Sigmoid(x) as an output breaks that: Sigmoid is no ancestor of y's producer and could read x late.
  const graph = (withLateReader: boolean) => {
    const g = new Graph('g');
    const b = new Builder(g, { opset: 17 });
    const x = g.value('x');
    x.type = { elemType: DataType.FLOAT, shape: [4] };
    g.appendInputs(x);
    const y = b.add(b.op('Relu', [x]), b.op('Neg', [x]));
    g.setOutputs(withLateReader ? [y, b.op('Sigmoid', [x])] : [y]);
    return { g, y: y.name };
  };
  it('accepts an output whose producer comes after every reader of the input', () => {
    const { g, y } = graph(false);
    assert.deepEqual(inPlaceViolations(g, [{ input: 'x', output: y }]), []);
  });
  it('names the node that may read the input after the output is written', () => {
    const { g, y } = graph(true);
    const bad = inPlaceViolations(g, [{ input: 'x', output: y }]);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^x -> .*Sigmoid.*may read the input after the output is written/);
  });
  it('follows views: a late reader of Reshape(x) is a late reader of x, since ORT may alias the two', () => {
    // y = Relu(Reshape(x)) and z = Sigmoid(Reshape(x)): x's only direct reader (the Reshape) is an ancestor
    // of y, but Sigmoid reads the same buffer through the view and may run after y is written.
    const g = new Graph('g');
    const b = new Builder(g, { opset: 17 });
    const x = g.value('x');
    x.type = { elemType: DataType.FLOAT, shape: [4] };
    g.appendInputs(x);
    const view = b.reshape(x, [2, 2]);
    const y = b.op('Relu', [view]);
    g.setOutputs([y, b.op('Sigmoid', [view])]);
    const bad = inPlaceViolations(g, [{ input: 'x', output: y.name }]);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^x -> .*Sigmoid.*may read the input after the output is written/);
    g.setOutputs([y]);
    eliminateDeadCode(g);
    assert.deepEqual(inPlaceViolations(g, [{ input: 'x', output: y.name }]), []);
  });
  it('the built training steps pass it: BERT AdamW and GPT-2 (tied embedding) SGD with accumulation', () => {
    for (const [student, optimizer, accumulationSteps] of [['bert-student', 'adamw', 1], ['gpt2-student', 'sgd', 2]] as const) {
      const m = buildTrainingArtifacts({ student: model(student), task: student.startsWith('gpt2') ? 'causal-lm' : 'seq-cls', optimizer, accumulationSteps, outDir: path.join(tmp, `inplace-${student}`) });
      assert.deepEqual(m.in_place, { safe: true, violations: [] }, student);
    }
  });
});
