import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphError } from '../src/errors.js';
import { Graph, type Node, type Value } from '../src/ir/graph.js';
import { DataType } from '../src/onnx/dtype.js';

const F = { elemType: DataType.FLOAT, shape: [2] };

/** x -> Relu -> r -> Neg -> n, with x the input and n the output. */
function chain(): { g: Graph; x: Value; r: Value; n: Value; relu: Node; neg: Node } {
  const g = new Graph('chain');
  const x = g.addInput('x', F);
  const r = g.value('r');
  const n = g.value('n');
  const relu = g.addNode('Relu', [x], [r]);
  const neg = g.addNode('Neg', [r], [n]);
  g.setOutputs([n]);
  return { g, x, r, n, relu, neg };
}

/** Every link seen from both ends: each use of a value has it as an input, each input lists the node as a use. */
function assertLinked(g: Graph): void {
  for (const node of g.nodes) {
    for (const v of [...node.inputs, ...node.implicitInputs]) if (v) assert.ok(v.uses.includes(node), `${v.name} lists ${node.name}`);
    for (const v of node.outputs) if (v) assert.equal(v.producer, node, `${v.name} is produced by ${node.name}`);
  }
  for (const v of g.values.values()) {
    for (const user of v.uses) assert.ok([...user.inputs, ...user.implicitInputs].includes(v), `${user.name} reads ${v.name}`);
    if (v.producer) assert.ok(g.nodes.includes(v.producer) && v.producer.outputs.includes(v), `${v.name}'s producer`);
  }
}

describe('Graph mutators keep both ends of every link', () => {
  it('setInputs, appendInputs, setOutputs and appendOutputs replace the lists, which callers cannot edit', () => {
    const { g, x, r, n } = chain();
    const y = g.addInput('y', F);
    g.setInputs([y, x]);
    assert.deepEqual(g.inputs.map((v) => v.name), ['y', 'x']);
    g.appendOutputs(r);
    assert.deepEqual(g.outputs, [n, r]);
    const seen = g.outputs;
    g.setOutputs([r]);
    assert.deepEqual(seen, [n, r], 'a view read before a change is not changed under its reader');
    assert.equal(x.isGraphInput, true);
    g.setInputs([y]);
    assert.equal(x.isGraphInput, false);
    g.appendInputs(x);
    assert.deepEqual(g.inputs, [y, x]);
  });

  it('refuses a graph input or output of another graph', () => {
    const { g } = chain();
    const other = new Graph('other').value('z');
    assert.throws(() => g.setOutputs([other]), GraphError);
    assert.throws(() => g.appendInputs(other), GraphError);
  });

  it('setNodeInput moves the use from the old value to the new one', () => {
    const { g, x, r, neg } = chain();
    g.setNodeInput(neg, 0, x);
    assert.deepEqual(neg.inputs, [x]);
    assert.deepEqual(r.uses, []);
    assert.equal(x.uses.filter((u) => u === neg).length, 1);
    g.setNodeInput(neg, 0, null);
    assert.equal(x.uses.includes(neg), false);
    assertLinked(g);
  });

  it('setNodeOutput pads missing slots, moves the producer and refuses a value another node computes', () => {
    const { g, r, n, relu, neg } = chain();
    const extra = g.value('extra');
    g.setNodeOutput(relu, 2, extra);
    assert.deepEqual(relu.outputs, [r, null, extra]);
    assert.equal(extra.producer, relu);
    assert.throws(() => g.setNodeOutput(relu, 1, n), /produced twice/);
    const fresh = g.value('fresh');
    g.setNodeOutput(neg, 0, fresh);
    assert.equal(n.producer, null, 'the value it replaced is left unproduced');
    assert.equal(fresh.producer, neg);
    assertLinked(g);
  });

  it('setImplicitInputs replaces the outer values a node reads and counts them as uses', () => {
    const { g, x, r, neg } = chain();
    g.setImplicitInputs(neg, [x]);
    assert.ok(x.uses.includes(neg));
    g.setImplicitInputs(neg, [r]);
    assert.equal(x.uses.includes(neg), false);
    assert.equal(r.uses.filter((u) => u === neg).length, 2, 'once as an input, once as an implicit input');
    assertLinked(g);
  });

  it('replaceAllUses repoints every reader, implicit ones and graph outputs included', () => {
    const { g, x, r, n, neg } = chain();
    const loop = g.addNode('Identity', [n], [g.value('m')]);
    g.setImplicitInputs(loop, [r]);
    g.replaceAllUses(r, x);
    assert.deepEqual(r.uses, []);
    assert.deepEqual(neg.inputs, [x]);
    assert.deepEqual(loop.implicitInputs, [x]);
    g.replaceAllUses(n, x);
    assert.deepEqual(g.outputs, [x]);
    assertLinked(g);
  });

  it('removeNode unlinks its inputs and leaves its outputs unproduced', () => {
    const { g, r, n, neg } = chain();
    g.removeNode(neg);
    assert.equal(g.nodes.includes(neg), false);
    assert.deepEqual(r.uses, []);
    assert.equal(n.producer, null);
    assertLinked(g);
  });

  it('reorderNodes takes a permutation of the nodes and nothing else', () => {
    const { g, relu, neg } = chain();
    g.reorderNodes([neg, relu]);
    assert.deepEqual(g.nodes, [neg, relu]);
    assert.throws(() => g.reorderNodes([relu]), /leaves out 1/);
    assert.throws(() => g.reorderNodes([relu, relu]), /twice/);
    const stranger = new Graph('other').addNode('Relu', [], []);
    assert.throws(() => g.reorderNodes([relu, stranger]), /does not/);
  });

  it('removeValue forgets only a value nothing links to', () => {
    const { g, r, relu } = chain();
    assert.throws(() => g.removeValue(r), /still in use/);
    const lone = g.value('lone');
    g.removeValue(lone);
    assert.equal(g.get('lone'), undefined);
    assert.ok(relu.outputs.includes(r));
  });
});
