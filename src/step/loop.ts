/**
 * The K-step training model: an ONNX Loop whose body is the training step, with parameters and optimizer
 * state loop-carried. One ORT call runs K optimizer steps and returns the final parameters and state once,
 * instead of copying every parameter and state tensor into JavaScript after every step (onnxruntime-node
 * copies each fetched output into a new buffer at ~1-2 GB/s; see docs/TRAINING-STEP.md).
 *
 * Inputs: the step's batch inputs stacked along a new leading `steps` axis, `lr` per step [steps], `step`
 * (optimizer steps done before this call), the scalar hyperparameters, parameters and state.
 * Outputs: the final parameters and state (`new/<name>`), and loss/ce/kd/grad_norm per step [steps].
 */
import { GraphError } from '../errors.js';
import { makeAttribute } from '../ir/attributes.js';
import { Builder } from '../ir/builder.js';
import { graphToProto } from '../ir/convert.js';
import { Graph, type Value } from '../ir/graph.js';
import { DataType } from '../onnx/dtype.js';
import { makeTensor } from '../onnx/tensor.js';
import { METRICS, STEP_IO, newName } from './contract.js';
import type { StepGraph } from './step-graph.js';

const LOOP_PREFIX = 'loop/';

/** The two graphs being built, and the names that cross between them. */
interface LoopContext {
  outer: Graph;
  /** The step graph, becoming the Loop body. */
  body: Graph;
  step: StepGraph;
  /** Parameters and optimizer state: loop-carried. */
  carried: string[];
  /** What the body reads from the outer scope, under its own name: scalar hyperparameters and initializers. */
  outerScalars: Set<string>;
}

/** The outer graph's inputs that the Loop slices per iteration, reads once, or carries. */
interface OuterInputs {
  /** The batch inputs, stacked along a leading `steps` axis (in step.batch order). */
  stacked: Value[];
  lr: Value;
  /** Optimizer steps completed before the call. */
  step: Value;
  carried: Value[];
}

/**
 * Wraps the step graph `body` (consumed: it becomes the Loop body) into a new outer graph. The body keeps
 * reading the scalar hyperparameters (alpha, temperature, max_grad_norm) and frozen weights from the outer
 * scope; everything else inside it is renamed under 'loop/' so no name shadows the outer graph.
 */
export function buildLoopGraph(body: Graph, step: StepGraph, opset: number): Graph {
  const ctx: LoopContext = {
    outer: new Graph('train_loop'),
    body,
    step,
    carried: [...step.parameters.map((p) => p.name), ...step.state.map((s) => s.name)],
    outerScalars: new Set<string>([STEP_IO.alpha, STEP_IO.temperature, STEP_IO.maxGradNorm]),
  };
  moveInitializersOut(ctx);
  const inputs = addOuterInputs(ctx);
  const { iter, condIn } = renameIntoLoopScope(ctx);
  sliceStackedInputs(ctx, inputs, iter);
  const floatType = addStepCounter(ctx, inputs.step, iter, opset);
  setBodyInterface(ctx, iter, condIn);
  return addLoop(ctx, inputs, floatType);
}

/** Frozen weights and other initializers move to the outer graph; the body reads them from there. */
function moveInitializersOut({ outer, body, outerScalars }: LoopContext): void {
  for (const v of body.initializers) {
    outer.addInitializer(v.initializer!, v.name);
    outer.get(v.name)!.type = { ...v.type };
    delete v.initializer;
    outerScalars.add(v.name);
  }
}

/** Outer inputs: stacked batch, lr per step, steps done so far, scalars, parameters and state. */
function addOuterInputs({ outer, body, step, carried, outerScalars }: LoopContext): OuterInputs {
  const outerInput = (v: Value, shape?: Value['type']['shape']) => {
    const o = outer.value(v.name);
    o.type = { elemType: v.type.elemType, shape: shape ?? v.type.shape };
    outer.appendInputs(o);
    return o;
  };
  const stacked = step.batch.map((io) => outerInput(body.get(io.name)!, ['steps', ...(body.get(io.name)!.type.shape ?? [])]));
  const lr = outerInput(body.get(STEP_IO.lr)!, ['steps']);
  const stepsDone = outerInput(body.get(STEP_IO.step)!, []);
  for (const name of outerScalars) if (body.get(name)?.isGraphInput) outerInput(body.get(name)!, []);
  return { stacked, lr, step: stepsDone, carried: carried.map((n) => outerInput(body.get(n)!)) };
}

/** Renames every body value except outer-scope references, and adds the Loop's iteration and condition inputs. */
function renameIntoLoopScope({ body, outerScalars }: LoopContext): { iter: Value; condIn: Value } {
  for (const v of [...body.values.values()]) if (!outerScalars.has(v.name)) body.rename(v, `${LOOP_PREFIX}${v.name}`);
  body.name = 'train_step';
  const iter = body.value(`${LOOP_PREFIX}iter`);
  iter.type = { elemType: DataType.INT64, shape: [] };
  const condIn = body.value(`${LOOP_PREFIX}cond`);
  condIn.type = { elemType: DataType.BOOL, shape: [] };
  return { iter, condIn };
}

/** Per-iteration slices of the stacked inputs: the step's batch inputs and lr become Gathers at `iter`. */
function sliceStackedInputs({ body, step }: LoopContext, inputs: OuterInputs, iter: Value): void {
  const slice = (outerValue: Value, inner: Value) => {
    const ref = body.value(outerValue.name); // an outer-scope name: no producer in the body
    body.addNode('Gather', [ref, iter], [inner], [makeAttribute('axis', 0)], { name: `${LOOP_PREFIX}gather/${outerValue.name}` });
  };
  step.batch.forEach((io, k) => slice(inputs.stacked[k]!, body.get(`${LOOP_PREFIX}${io.name}`)!));
  slice(inputs.lr, body.get(`${LOOP_PREFIX}${STEP_IO.lr}`)!);
}

/**
 * Computes the body's `step` input (1-based optimizer step) from the outer steps done and `iter`, and with
 * accumulation its `apply_update`. Returns the step's float type, which the per-step metrics share.
 */
function addStepCounter({ body, step }: LoopContext, stepsDone: Value, iter: Value, opset: number): DataType {
  const stepIn = body.get(`${LOOP_PREFIX}${STEP_IO.step}`)!;
  const floatType = stepIn.type.elemType ?? DataType.FLOAT;
  const bb = new Builder(body, { opset, prefix: LOOP_PREFIX });
  // Optimizer steps completed before this micro-batch: step0 + floor(iter / accumulation); 1-based step.
  const n = step.accumulationSteps;
  const window = n > 1 ? bb.op('Div', [iter, bb.int64([n], true)]) : iter;
  const done = bb.add(body.value(stepsDone.name), bb.op('Cast', [window], { to: floatType }));
  body.addNode('Add', [done, bb.scalar(1, floatType)], [stepIn], [], { name: `${LOOP_PREFIX}step` });
  if (n > 1) {
    // The micro-batch that closes a window applies the accumulated update.
    const pos = bb.op('Mod', [bb.add(iter, bb.int64([1], true)), bb.int64([n], true)]);
    body.addNode('Equal', [pos, bb.int64([0], true)], [body.get(`${LOOP_PREFIX}${STEP_IO.applyUpdate}`)!], [], { name: `${LOOP_PREFIX}apply_update` });
  }
  return floatType;
}

/** The body's interface as Loop requires: (iter, cond, carried...) -> (cond, new carried..., metrics...). */
function setBodyInterface({ body, carried }: LoopContext, iter: Value, condIn: Value): void {
  const condOut = body.newValue(`${LOOP_PREFIX}cond_out`);
  condOut.type = { elemType: DataType.BOOL, shape: [] };
  body.addNode('Identity', [condIn], [condOut], [], { name: `${LOOP_PREFIX}cond_out` });
  body.setInputs([iter, condIn, ...carried.map((n) => body.get(`${LOOP_PREFIX}${n}`)!)]);
  const bodyOut = (name: string) => {
    const v = body.get(`${LOOP_PREFIX}${name}`);
    if (!v) throw new GraphError(`training step has no output '${name}'`);
    return v;
  };
  body.setOutputs([condOut, ...carried.map((n) => bodyOut(newName(n))), ...METRICS.map((m) => bodyOut(m))]);
}

/**
 * The outer graph's Loop node: trip count = number of stacked batches, cond = true; outputs the metrics per
 * step and the final parameters and state.
 */
function addLoop({ outer, body, carried, outerScalars }: LoopContext, inputs: OuterInputs, floatType: DataType): Graph {
  const shape = outer.newValue('steps_shape');
  outer.addNode('Shape', [inputs.stacked[0]!], [shape], [], { name: 'steps_shape' });
  const tripCount = outer.newValue('trip_count');
  const first = outer.addInitializer(makeTensor('first_axis', DataType.INT64, [], BigInt64Array.of(0n)));
  outer.addNode('Gather', [shape, first], [tripCount], [makeAttribute('axis', 0)], { name: 'trip_count' });
  const cond = outer.addInitializer(makeTensor('loop_cond', DataType.BOOL, [], Uint8Array.of(1)));
  const finals = carried.map((n) => {
    const v = outer.value(newName(n));
    v.type = { ...body.get(`${LOOP_PREFIX}${n}`)!.type };
    return v;
  });
  const metrics = METRICS.map((m) => {
    const v = outer.value(m);
    v.type = { elemType: floatType, shape: ['steps'] };
    return v;
  });
  const loop = outer.addNode('Loop', [tripCount, cond, ...inputs.carried], [...finals, ...metrics], [makeAttribute('body', graphToProto(body))], { name: 'train_loop' });
  const implicit = [...inputs.stacked, inputs.lr, inputs.step, ...[...outerScalars].map((n) => outer.get(n)!).filter(Boolean)];
  outer.setImplicitInputs(loop, implicit);
  outer.setOutputs([...metrics, ...finals]);
  return outer;
}
