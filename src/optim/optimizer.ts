/**
 * The optimizer contract. An optimizer appends, per parameter, the nodes of one update step with PyTorch's
 * semantics (torch.optim.SGD / torch.optim.AdamW). State tensors (momentum buffers, Adam moments) are
 * graph inputs and outputs of the training step, so the step is a pure function and the state can be kept
 * inside ONNX Runtime between steps (see docs/TRAINING-STEP.md).
 */
import type { DataType } from '../onnx/dtype.js';
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';

/** One state tensor kept per parameter, shaped like the parameter. */
export interface StateSpec {
  /** Name suffix: the state input is `<param>.<suffix>` (e.g. 'exp_avg'). */
  suffix: string;
  /** Initial value of every element (PyTorch starts all of these at 0). */
  init: number;
}

/** Hyperparameters that change during training: graph inputs (float scalars of the parameters' type). */
export interface StepInputs {
  /** Learning rate for this step (after the schedule). */
  lr: Value;
  /** 1-based count of optimizer steps including this one (as PyTorch's `state['step']` after increment). */
  step: Value;
  /**
   * A float scalar every gradient is to be multiplied by before the update (the clipping coefficient times
   * the 1/n of an accumulation mean), or undefined for 1. Optimizers fold it into their per-step scalars
   * where they can instead of spending a pass over each gradient on it.
   */
  gradScale?: Value;
  /**
   * The element type of the per-step scalar arithmetic (bias corrections, step sizes): float64 by default, as
   * PyTorch's Python floats; float32 in builds for GPU providers, which have no float64 kernels.
   */
  scalarType?: DataType.FLOAT | DataType.DOUBLE;
}

export interface ParamUpdate {
  param: Value;
  /** Gradient of the loss (accumulated over micro-batches; see StepInputs.gradScale). */
  grad: Value;
  /** Current state tensors, in the order of `stateSpecs()`. */
  state: Value[];
  /**
   * False for a parameter HF's Trainer gives no weight decay (biases and normalization weights,
   * params/decay.ts); default true.
   */
  decay?: boolean;
}

/** Per-step scalars of an update (step size, bias corrections, clipping scale), by name. */
export type StepScalars = Record<string, Value>;

/** What an optimizer defines: the per-step scalars and the elementwise update that reads them. */
export interface OptimizerRule {
  /** 'sgd' | 'adamw'. */
  readonly name: string;
  /** Build-time settings (betas, eps, momentum, ...) for the manifest. */
  readonly settings: Record<string, number | boolean>;
  stateSpecs(): StateSpec[];
  /**
   * The scalars one step's update reads, for parameters of `like`'s dtype. Called once per parameter; an
   * optimizer memoizes them (sharedPerDtype) so the graph holds one copy per dtype.
   */
  perStep(b: Builder, step: StepInputs, like: Value): StepScalars;
  /**
   * The update of one parameter from `perStep`'s scalars. It must be elementwise in the parameter, gradient
   * and state (every output element depends only on the same element of each), with scalars broadcast: the
   * step graph may run it over equal chunks of the tensors in a Scan (optim/chunked.ts) instead of over the
   * whole tensors. Returns the new parameter and new state (same order as `stateSpecs`).
   */
  apply(b: Builder, scalars: StepScalars, u: ParamUpdate): { param: Value; state: Value[] };
}

export interface Optimizer extends OptimizerRule {
  /** Appends the update of one parameter over whole tensors: `apply` with this step's scalars. */
  update(b: Builder, step: StepInputs, u: ParamUpdate): { param: Value; state: Value[] };
}

/** An Optimizer from its rule. */
export function defineOptimizer(rule: OptimizerRule): Optimizer {
  return { ...rule, update: (b, step, u) => rule.apply(b, rule.perStep(b, step, u.param), u) };
}
