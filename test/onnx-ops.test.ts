import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasTrait, isStandardDomain, opsWith, qualifiedOpType } from '../src/onnx/ops.js';

describe('onnx/ops', () => {
  it('treats an unset, empty or ai.onnx domain as the standard one', () => {
    for (const d of [undefined, null, '', 'ai.onnx']) assert.equal(isStandardDomain(d), true, String(d));
    for (const d of ['com.microsoft', 'ai.onnx.ml', 'ai.onnx.preview.training']) assert.equal(isStandardDomain(d), false, d);
  });

  it('prefixes op types with their domain outside ai.onnx only', () => {
    assert.equal(qualifiedOpType({ opType: 'MatMul', domain: '' }), 'MatMul');
    assert.equal(qualifiedOpType({ opType: 'MatMul', domain: 'ai.onnx' }), 'MatMul');
    assert.equal(qualifiedOpType({ opType: 'MatMul' }), 'MatMul');
    assert.equal(qualifiedOpType({ opType: 'FusedGemm', domain: 'com.microsoft' }), 'com.microsoft.FusedGemm');
  });

  // The categories each user kept as its own set until the table replaced them; a change here changes
  // what inference, narrow-rows, remat and the in-place check do.
  const sorted = (s: ReadonlySet<string>) => [...s].sort();
  it('lists the ops type inference gives input 0\'s type and shape', () => {
    assert.deepEqual(sorted(opsWith('sameTypeAsInput')), [
      'Identity', 'Neg', 'Abs', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Erf', 'Tanh', 'Sigmoid', 'Relu', 'LeakyRelu', 'Gelu',
      'Softmax', 'LogSoftmax', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'Softplus', 'Elu', 'Selu', 'HardSigmoid',
      'Clip', 'Trilu', 'ScatterND', 'ScatterElements', 'Not', 'Mish', 'HardSwish', 'Celu', 'CumSum', 'FastGelu',
    ].sort());
  });
  it('lists broadcasting, comparison and reduction ops', () => {
    assert.deepEqual(sorted(opsWith('broadcast')), ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Mod', 'PRelu', 'BitShift'].sort());
    assert.deepEqual(sorted(opsWith('comparison')), ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'].sort());
    assert.deepEqual(sorted(opsWith('reduction')), ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL2', 'ReduceL1',
      'ReduceSumSquare', 'ReduceLogSumExp', 'ArgMax', 'ArgMin'].sort());
  });
  it('lists the elementwise ops narrow-rows narrows through', () => {
    assert.deepEqual(sorted(opsWith('elementwise')), [
      'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where', 'Equal', 'Less', 'Greater', 'LessOrEqual',
      'GreaterOrEqual', 'And', 'Or', 'Not', 'Identity', 'Cast', 'Neg', 'Abs', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Erf',
      'Tanh', 'Sigmoid', 'Relu', 'LeakyRelu', 'Gelu', 'Softplus', 'Elu', 'Selu', 'Celu', 'HardSigmoid', 'HardSwish',
      'Mish', 'Sign', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Clip', 'IsNaN', 'IsInf',
    ].sort());
  });
  it('lists views and the cheap ops remat recomputes, all of them elementwise', () => {
    assert.deepEqual(sorted(opsWith('view')), ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity'].sort());
    const cheap = opsWith('cheap');
    assert.deepEqual(sorted(cheap), ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Neg', 'Abs', 'Erf', 'Tanh', 'Sigmoid', 'Exp', 'Sqrt', 'Reciprocal', 'Relu'].sort());
    for (const op of cheap) assert.equal(hasTrait(op, 'elementwise'), true, op);
  });
  it('answers no for ops it does not know and for names on Object.prototype', () => {
    assert.equal(hasTrait('MatMul', 'elementwise'), false);
    assert.equal(hasTrait('toString', 'view'), false);
    assert.equal(hasTrait('Add', 'reduction'), false);
  });
});
