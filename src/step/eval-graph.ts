/**
 * The eval model: the student forward plus the loss terms, no gradients. Trained parameters are inputs
 * (fed from the runner's current state); the logits stay an output for metrics.
 */
import { InputError } from '../errors.js';
import { Builder } from '../ir/builder.js';
import { narrowToReadRows } from '../ir/narrow-rows.js';
import type { Model } from '../ir/convert.js';
import type { Value } from '../ir/graph.js';
import { distillationLoss, type Task } from '../losses/distill.js';
import { DataType } from '../onnx/dtype.js';
import { type BuildTarget, STEP_IO } from './contract.js';
import { limitFanIn, lowerForGpu } from './gpu-ops.js';
import { eliminateDeadCode } from '../ir/passes.js';

export interface EvalGraphOptions {
  task: Task;
  logits?: string;
  teacher: boolean;
  /** Parameters that become inputs (the trained set). */
  parameters: readonly string[];
  /** As StepGraphOptions.narrowRows (default true). */
  narrowRows?: boolean;
  /** As StepGraphOptions.target (default 'cpu'). */
  target?: BuildTarget;
}

export function buildEvalGraph(model: Model, options: EvalGraphOptions): void {
  const g = model.graph;
  const logitsName = options.logits ?? 'logits';
  const student = g.outputs.find((o) => o.name === logitsName);
  if (!student) throw new InputError(`the student has no output '${logitsName}'`);
  g.setOutputs([student]);
  if (options.narrowRows !== false) narrowToReadRows(g, { opset: model.opset('')!, exactAcrossPadding: false });
  const floatType = student.type.elemType ?? DataType.FLOAT;
  const input = (name: string, type: Value['type']) => g.addInput(name, type);
  const labels = input(STEP_IO.labels, { elemType: DataType.INT64, shape: options.task === 'seq-cls' ? ['batch'] : ['batch', 'sequence'] });
  const teacher = options.teacher ? input(STEP_IO.teacherLogits, { elemType: floatType, shape: student.type.shape }) : undefined;
  const alpha = input(STEP_IO.alpha, { elemType: floatType, shape: [] });
  const temperature = input(STEP_IO.temperature, { elemType: floatType, shape: [] });
  const b = new Builder(g, { opset: model.opset('')!, prefix: 'eval/' });
  const terms = distillationLoss(b, options.task, {
    student,
    teacher,
    labels,
    attentionMask: g.get('attention_mask'),
    alpha,
    temperature,
  });
  for (const name of options.parameters) {
    const v = g.get(name);
    if (v?.initializer) g.promoteToInput(v);
  }
  const out = (v: Value, name: string) => g.rename(b.op('Identity', [v]), name);
  g.setOutputs([student, out(terms.loss, STEP_IO.loss), out(terms.ce, STEP_IO.ce), out(terms.kd, STEP_IO.kd)]);
  eliminateDeadCode(g);
  limitFanIn(g, model.opset('')!);
  if (options.target === 'gpu') lowerForGpu(g, model.opset('')!);
  // Without a teacher, alpha and temperature feed nothing: drop them so callers need not feed them.
  g.setInputs(g.inputs.filter((v) => v.uses.length > 0 || g.outputs.includes(v)));
}
