import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Builder } from '../src/ir/builder.js';
import { modelToProto, newModel } from '../src/ir/convert.js';
import { Graph } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';
import { saveModel } from '../src/onnx/model-io.js';
import { makeTensor } from '../src/onnx/tensor.js';
import { MODELS, ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-coverage-'));

/**
 * logits = HardSwish(x @ W) * Sin(x) + b, plus HardSwish(W) as a dead end and Shape(x @ W) as an integer side path.
 * By construction exactly one node without a rule lies between the parameters and the output: 'hardswish_on_path'.
 * Sin reads only the input, the dead-end HardSwish reaches no output, and Shape carries no gradient.
 */
function writeModel(file: string): void {
  const g = new Graph('coverage');
  const x = g.value('x');
  x.type = { elemType: DataType.FLOAT, shape: ['batch', 3] };
  g.appendInputs(x);
  const w = g.addInitializer(makeTensor('W', DataType.FLOAT, [3, 3], Float32Array.from([0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9])));
  const bias = g.addInitializer(makeTensor('b', DataType.FLOAT, [3], Float32Array.from([0.01, 0.02, 0.03])));
  const b = new Builder(g, { opset: 17, prefix: '' });
  const h = b.op('MatMul', [x, w], {}, 'matmul');
  const c = b.op('HardSwish', [h], {}, 'hardswish_on_path');
  const s = b.op('Sin', [x], {}, 'sin_of_input');
  const dead = b.op('HardSwish', [w], {}, 'hardswish_dead_end');
  void dead;
  const shape = b.op('Shape', [h], {}, 'shape_side');
  const m = b.op('Mul', [c, s], {}, 'mul');
  const out = b.op('Add', [m, bias], {}, 'add');
  const logits = b.op('Reshape', [out, shape], {}, 'reshape');
  g.setOutputs([logits]);
  logits.name = 'logits';
  saveModel(modelToProto(newModel(g, 17)), file);
}

describe('distill inspect --grad-coverage', () => {
  it('lists exactly the node without a rule on the path from a parameter to the output, exit code 3', () => {
    const file = path.join(tmp, 'hardswish.onnx');
    writeModel(file);
    const r = run('inspect', file, '--grad-coverage', '--json');
    assert.equal(r.status, 3, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.deepEqual(c.uncovered.map((u: { op: string; node: string }) => [u.op, u.node]), [['HardSwish', 'hardswish_on_path']]);
    assert.deepEqual(c.uncoveredOps, ['HardSwish']);
    // MatMul, HardSwish, Mul, Add, Reshape carry the gradient; Sin (input only), the dead end and Shape do not
    assert.deepEqual(c.opsOnPath, { Add: 1, HardSwish: 1, MatMul: 1, Mul: 1, Reshape: 1 });
    assert.equal(c.nodesOnPath, 5);
    const text = run('inspect', file, '--grad-coverage');
    assert.equal(text.status, 3);
    assert.match(text.stdout, /1 of 5 nodes .* have no gradient rule \(HardSwish\)/);
    assert.match(text.stdout, /HardSwish\s+hardswish_on_path\s+\(reached from 'W'\)/);
    assert.doesNotMatch(text.stdout, /sin_of_input|hardswish_dead_end/);
  });

  it('a model the autodiff trains: every op covered, exit code 0, no Shape on the path', () => {
    const r = run('inspect', path.join(MODELS, 'user', 'bert', 'torchscript.onnx'), '--grad-coverage', '--json');
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.deepEqual(c.uncovered, []);
    assert.ok(c.opsOnPath.MatMul > 0 && c.opsOnPath.Softmax === 2 && c.opsOnPath.LayerNormalization > 0, JSON.stringify(c.opsOnPath));
    for (const op of ['Shape', 'ConstantOfShape', 'Equal', 'NonZero']) assert.equal(c.opsOnPath[op], undefined, op);
    const text = run('inspect', path.join(MODELS, 'user', 'bert', 'torchscript.onnx'), '--grad-coverage');
    assert.match(text.stdout, /every one has a gradient rule/);
  });
});
