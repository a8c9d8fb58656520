/**
 * The training step split in two, for low-memory mode (runtime/trainer-session.ts):
 *   train_grad.onnx    (batch, hyperparameters, parameters[, accumulators]) -> (metrics, grad_scale, gradients)
 *   train_update.onnx  one parameter chunk: (param, grad, state..., lr, step, grad_scale) -> (new param, new state)
 *
 * Why: onnxruntime-node hands every fetched output back as a fresh JavaScript copy, also when ORT wrote it into
 * a preallocated tensor. A whole step returns all parameters and optimizer state at once, so its call ends with
 * two copies of the state alive (803 MB more at the peak of a BERT-base student). Here the step's only large
 * output is the gradients (a third of the state), and the update runs chunk by chunk over views of the
 * parameter and state buffers, writing each result into the chunk it read: the transient copy of an update call
 * is a few MB.
 *
 * Both models come from the step graph itself, so the numbers are those of train_step.onnx: the gradient model
 * is the step with its update nodes dropped (the gradients and the clipping scale become outputs), and the
 * update model runs the optimizer's own per-step scalars and elementwise update (the contract that chunked
 * updates rely on already: optim/optimizer.ts) over a 1-D chunk.
 */
import { InputError } from '../errors.js';
import { Builder } from '../ir/builder.js';
import { type Model, modelFromProto, modelToProto, newModel } from '../ir/convert.js';
import { Graph, type Value } from '../ir/graph.js';
import type { Optimizer } from '../optim/optimizer.js';
import { inPlaceViolations } from './in-place.js';
import { METRICS, type Manifest, SPLIT_IO, STEP_IO, newName } from './contract.js';
import type { StepGraph } from './step-graph.js';
import { eliminateDeadCode } from '../ir/passes.js';


/** train_update's input and output names for `optimizer` (the manifest's `split_step.update`). */
export function updateIO(optimizer: Optimizer): Manifest['split_step']['update'] {
  const state = optimizer.stateSpecs().map((sp) => SPLIT_IO.state(sp.suffix));
  return {
    inputs: { param: SPLIT_IO.param, grad: SPLIT_IO.grad, state, lr: STEP_IO.lr, step: STEP_IO.step, grad_scale: SPLIT_IO.gradScale },
    outputs: { param: newName(SPLIT_IO.param), state: state.map(newName) },
  };
}

/**
 * `v` under the name `as`, for a graph output: renamed where it is a node's own result (an Identity would be a
 * copy in ORT), carried by an Identity where it is an input or already an output, whose name must stay.
 */
function exposeAs(g: Graph, b: Builder, v: Value, as: string): Value {
  if (g.get(as)) throw new InputError(`the student model already has a value named '${as}'; rename it before building`);
  const own = v.producer !== null && !g.inputs.includes(v) && !g.outputs.includes(v);
  return g.rename(own ? v : b.op('Identity', [v]), as);
}

/**
 * The gradient model: a structural copy of the finished step model (tensors shared) whose outputs are the
 * metrics, the clipping scale and every parameter's gradient; dead code elimination then drops the update.
 * Inputs nothing reads any more (optimizer state, lr, step, apply_update) are removed, so a caller feeds only
 * what the gradients need.
 */
export function buildGradModel(stepModel: Model, step: StepGraph): Model {
  const m = modelFromProto(modelToProto(stepModel));
  const g = m.graph;
  g.name = 'train_grad';
  const b = new Builder(g, { opset: m.opset('')!, prefix: 'split/' });
  const expose = (name: string, as: string): Value => {
    const v = g.get(name);
    if (!v) throw new InputError(`split step: the step graph has no value '${name}'`);
    return exposeAs(g, b, v, as);
  };
  const metrics = METRICS.map((name) => g.get(name)!);
  const scale = expose(step.gradScale, SPLIT_IO.gradScale);
  const gradients = step.parameters.map((p, i) => expose(step.gradients[i]!, SPLIT_IO.gradient(p.name)));
  g.setOutputs([...metrics, scale, ...gradients]);
  eliminateDeadCode(g);
  g.setInputs(g.inputs.filter((v) => v.uses.length > 0 || g.outputs.includes(v)));
  return m;
}

/**
 * The update of one 1-D chunk of a parameter of type `elemType` and its optimizer state (one model per
 * parameter dtype), with the scalar inputs the step takes (lr, step, in the step's float type) plus the
 * gradient model's grad_scale. Each result may be written into the buffer of the input it replaces: checked
 * here as for train_step.onnx (build/in-place.ts).
 */
export function buildUpdateModel(optimizer: Optimizer, elemType: number, opset: number, scalarTypes: { hyper: number; gradScale: number }, decay = true): Model {
  const io = updateIO(optimizer);
  const g = new Graph('train_update');
  const chunk = { elemType, shape: ['n'] };
  const scalar = { elemType: scalarTypes.hyper, shape: [] };
  const param = g.addInput(io.inputs.param, chunk);
  const grad = g.addInput(io.inputs.grad, chunk);
  const state = io.inputs.state.map((name) => g.addInput(name, chunk));
  const lr = g.addInput(io.inputs.lr, scalar);
  const stepIn = g.addInput(io.inputs.step, scalar);
  const gradScale = g.addInput(io.inputs.grad_scale, { elemType: scalarTypes.gradScale, shape: [] });
  const b = new Builder(g, { opset, prefix: 'update/' });
  const scalars = optimizer.perStep(b, { lr, step: stepIn, gradScale }, param);
  const result = optimizer.apply(b, scalars, { param, grad, state, decay });
  g.setOutputs([exposeAs(g, b, result.param, io.outputs.param), ...result.state.map((v, i) => exposeAs(g, b, v, io.outputs.state[i]!))]);
  const bad = inPlaceViolations(g, [
    { input: io.inputs.param, output: io.outputs.param },
    ...io.inputs.state.map((input, i) => ({ input, output: io.outputs.state[i]! })),
  ]);
  if (bad.length > 0) throw new InputError(`${optimizer.name}: its update cannot run in place over chunks (${bad[0]})`);
  return newModel(g, opset);
}
