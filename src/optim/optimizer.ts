/**
 * The optimizer contract. An optimizer appends, per parameter, the nodes of one update step with PyTorch's
 * semantics (torch.optim.SGD / torch.optim.AdamW). State tensors (momentum buffers, Adam moments) are
 * graph inputs and outputs of the training step, so the step is a pure function and the state can be kept
 * inside ONNX Runtime between steps (see docs/TRAINING-STEP.md).
 */
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
}

export interface ParamUpdate {
  param: Value;
  /** Gradient of the loss (accumulated over micro-batches; see StepInputs.gradScale). */
  grad: Value;
  /** Current state tensors, in the order of `stateSpecs()`. */
  state: Value[];
}

export interface Optimizer {
  /** 'sgd' | 'adamw'. */
  readonly name: string;
  /** Build-time settings (betas, eps, momentum, ...) for the manifest. */
  readonly settings: Record<string, number | boolean>;
  stateSpecs(): StateSpec[];
  /** Appends the update of one parameter; returns the new parameter and new state (same order). */
  update(b: Builder, step: StepInputs, u: ParamUpdate): { param: Value; state: Value[] };
}
