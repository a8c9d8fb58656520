import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '../src/errors.js';
import { Graph } from '../src/ir/graph.js';
import { eliminateDeadCode, topologicalSort } from '../src/ir/passes.js';
import { DataType } from '../src/onnx/dtype.js';
import { makeTensor } from '../src/onnx/tensor.js';

const F = { elemType: DataType.FLOAT, shape: [2] };

describe('graph passes', () => {
  it('eliminateDeadCode drops what no output reads, keeps inputs, and says whether it changed anything', () => {
    const g = new Graph('dce');
    const x = g.addInput('x', F);
    const unread = g.addInput('unread', F);
    const w = g.addInitializer(makeTensor('w', DataType.FLOAT, [2], new Float32Array([1, 2])));
    g.addInitializer(makeTensor('w_unused', DataType.FLOAT, [2], new Float32Array([3, 4])));
    const y = g.value('y');
    g.addNode('Add', [x, w], [y]);
    g.addNode('Neg', [x], [g.value('dead')]);
    g.valueInfo.set('dead', { name: 'dead' });
    g.setOutputs([y]);
    assert.equal(eliminateDeadCode(g), true);
    assert.deepEqual(g.nodes.map((n) => n.opType), ['Add']);
    assert.equal(g.get('dead'), undefined);
    assert.equal(g.valueInfo.has('dead'), false);
    assert.equal(g.get('w_unused'), undefined, 'an initializer nobody reads');
    assert.equal(g.get('unread'), unread, 'a graph input stays');
    assert.equal(eliminateDeadCode(g), false, 'nothing left to drop');
  });

  it('topologicalSort orders producers first, keeps a valid order and reports a cycle', () => {
    const g = new Graph('topo');
    const x = g.addInput('x', F);
    const a = g.value('a');
    const b = g.value('b');
    const second = g.addNode('Neg', [a], [b]);
    const first = g.addNode('Relu', [x], [a]);
    g.setOutputs([b]);
    assert.equal(topologicalSort(g), true);
    assert.deepEqual(g.nodes, [first, second]);
    assert.equal(topologicalSort(g), false, 'already sorted');

    const c = new Graph('cycle');
    const p = c.value('p');
    const q = c.value('q');
    c.addNode('Neg', [p], [q]);
    c.addNode('Neg', [q], [p]);
    assert.throws(() => topologicalSort(c), GraphError);
  });
});
