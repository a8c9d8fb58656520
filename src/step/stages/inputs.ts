/**
 * Stage 1, inputs: checks the student, keeps only its logits as an output (narrowed to the rows they read),
 * and adds the step's interface inputs: labels, teacher logits, the hyperparameters, apply_update.
 */
import { InputError } from '../../errors.js';
import { Builder } from '../../ir/builder.js';
import type { Model } from '../../ir/convert.js';
import type { TensorType } from '../../ir/graph.js';
import { narrowToReadRows } from '../../ir/narrow-rows.js';
import { DataType, dtypeName } from '../../onnx/dtype.js';
import { STEP_IO } from '../contract.js';
import type { StepGraphOptions } from '../step-graph.js';
import { type StepContext, addInput } from './context.js';

export function prepareInputs(model: Model, options: StepGraphOptions): StepContext {
  const g = model.graph;
  const opset = model.opset('');
  if (opset === undefined) throw new InputError('the student model imports no ai.onnx opset');
  const logitsName = options.logits ?? 'logits';
  const student = g.outputs.find((o) => o.name === logitsName);
  if (!student) {
    throw new InputError(`the student has no output '${logitsName}' (its outputs: ${g.outputs.map((o) => o.name).join(', ')}); pass the logits output name`);
  }
  const studentInputs = g.inputs.filter((v) => !v.initializer).map((v) => v.name);
  // The step returns no other student output, so nothing else may keep a full tensor alive.
  g.setOutputs([student]);
  // A step's sums over batch and sequence depend on the padding anyway, so its attention narrows too.
  if (options.narrowRows !== false) narrowToReadRows(g, { opset, exactAcrossPadding: false });
  const floatType = student.type.elemType ?? DataType.FLOAT;
  if (options.target === 'gpu' && floatType !== DataType.FLOAT) {
    throw new InputError(`building for the GPU needs a float32 student (GPU providers have no float64 kernels); its logits are ${dtypeName(floatType)}`);
  }
  const accumulation = options.accumulationSteps ?? 1;
  if (!Number.isInteger(accumulation) || accumulation < 1) throw new InputError(`gradient accumulation steps must be a positive integer, got ${accumulation}`);
  const scalar: TensorType = { elemType: floatType, shape: [] };
  const labelShape = options.task === 'seq-cls' ? ['batch'] : ['batch', 'sequence'];
  const io: StepContext['io'] = {
    labels: addInput(g, STEP_IO.labels, { elemType: DataType.INT64, shape: labelShape }),
    teacher: options.teacher
      ? addInput(g, STEP_IO.teacherLogits, { elemType: floatType, shape: student.type.shape?.map((d, i) => d ?? `logits_d${i}`) })
      : undefined,
    alpha: addInput(g, STEP_IO.alpha, scalar),
    temperature: addInput(g, STEP_IO.temperature, scalar),
    lr: addInput(g, STEP_IO.lr, scalar),
    step: addInput(g, STEP_IO.step, scalar),
    maxGradNorm: addInput(g, STEP_IO.maxGradNorm, scalar),
  };
  const attentionMask = g.get('attention_mask');
  if (options.task === 'causal-lm' && !g.inputs.includes(attentionMask!)) {
    throw new InputError("causal-lm training needs the student's 'attention_mask' input to ignore padded targets");
  }
  return { model, g, b: new Builder(g, { opset, prefix: 'step/' }), opset, options, student, studentInputs, floatType, io, accumulation };
}
