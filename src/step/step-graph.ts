/**
 * The training step as one pure ONNX graph:
 *   (batch, teacher logits, hyperparameters, parameters, optimizer state)
 *     -> (loss, ce, kd, grad_norm, new parameters, new optimizer state)
 * built on the student's own graph: distillation loss, reverse-mode gradients, global-norm clipping and the
 * optimizer update, all in standard ai.onnx ops. Hyperparameters that change during training are inputs, so
 * one graph serves the whole run. `buildStepGraph` runs the stages in stages/, one module each.
 */
import type { Model } from '../ir/convert.js';
import type { Value } from '../ir/graph.js';
import type { Task } from '../losses/distill.js';
import { dtypeName } from '../onnx/dtype.js';
import type { TensorProto } from '../onnx/proto.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { BuildTarget } from './contract.js';
import { accumulate } from './stages/accumulation.js';
import { clip } from './stages/clipping.js';
import { addGradients } from './stages/gradients.js';
import { prepareInputs } from './stages/inputs.js';
import { addLoss } from './stages/loss.js';
import { connectOutputs } from './stages/outputs.js';
import { planUpdates } from './stages/update-plan.js';
import { applyUpdates } from './stages/update.js';

export interface StepGraphOptions {
  task: Task;
  optimizer: Optimizer;
  /** Name of the student's logits output (default 'logits'). */
  logits?: string;
  /** With a teacher: a teacher_logits input and the KD term; without: plain fine-tuning. */
  teacher: boolean;
  /** Parameter name globs to keep frozen. */
  freeze?: string[];
  /**
   * The initializers that are parameters (params/: one per PyTorch parameter). Default: every float
   * initializer, for graphs that hold nothing else.
   */
  parameters?: readonly string[];
  /** Parameters without weight decay (HF's no-decay group: biases, normalization weights). */
  noDecay?: readonly string[];
  /**
   * Embedding parameters and the row PyTorch never updates (nn.Embedding's padding_idx): their gradient
   * there is zeroed, so clipping and the update see what PyTorch's do.
   */
  paddingRows?: Readonly<Record<string, number>>;
  /** Micro-batches whose gradients are averaged into one optimizer step (default 1). */
  accumulationSteps?: number;
  /**
   * Run the update of large parameters chunk by chunk in a Scan, with the parameter and its state carried
   * as [chunks, length] (optim/chunked.ts; default true, faster on CPUs). False keeps every tensor in its own
   * shape and large updates in plain nodes, e.g. for execution providers that run Scan on the CPU.
   */
  chunkedUpdate?: boolean;
  /**
   * Update small parameters in groups, one update over each group's concatenation (optim/grouped.ts;
   * default true: fewer kernels on every execution provider). False gives each its own update.
   */
  groupedUpdate?: boolean;
  /**
   * Compute only the rows of the student's tensors that its logits read (ir/narrow-rows.ts: a sequence
   * classifier's last layer for the [CLS] position alone; default true). The gradients are the same.
   */
  narrowRows?: boolean;
  /**
   * 'gpu': per-step scalars in float32 and the step in ops GPU providers have kernels for (build/gpu-ops.ts),
   * so that no per-step node runs on the CPU under them. Default 'cpu' (float64 scalars, as PyTorch's).
   */
  target?: BuildTarget;
}

export interface ParameterInfo {
  name: string;
  dtype: string;
  shape: number[];
  /**
   * The shape train_step and train_loop take and return it in, where that differs from `shape`: [chunks,
   * length] for a parameter updated in chunks (the same elements in the same order, so only the dims differ).
   */
  ioShape?: number[];
  /** Output holding the updated value. */
  output: string;
  /** The parameter's value in the student model (the initial value for training). */
  initial: TensorProto;
  /** Whether weight decay applies to it (false: HF's no-decay group). */
  decay: boolean;
}

export interface StateInfo {
  name: string;
  param: string;
  dtype: string;
  shape: number[];
  /** As ParameterInfo.ioShape: the state of a chunked parameter is chunked too. */
  ioShape?: number[];
  init: number;
  output: string;
}

export interface IoInfo {
  name: string;
  dtype: string;
  shape: (number | string)[];
}

export interface StepGraph {
  /** Batch inputs (the student's own inputs, labels, teacher logits). */
  batch: IoInfo[];
  /** Scalar hyperparameter inputs. */
  hyper: IoInfo[];
  /** Micro-batches per optimizer step (1: no accumulation). */
  accumulationSteps: number;
  parameters: ParameterInfo[];
  state: StateInfo[];
  frozen: string[];
  /** The student's inputs as named in its graph (input_ids, attention_mask, ...). */
  studentInputs: string[];
  /**
   * Names of values inside the step graph that the split low-memory models expose (build/split-step.ts): each
   * parameter's gradient (summed over the window with accumulation), in `parameters` order, in the
   * parameter's own shape; and the scalar every gradient is to be multiplied by (clipping times 1/n).
   */
  gradients: string[];
  gradScale: string;
}

function ioInfo(v: Value): IoInfo {
  return {
    name: v.name,
    dtype: dtypeName(v.type.elemType ?? 0),
    shape: (v.type.shape ?? []).map((d) => d ?? '?'),
  };
}

/** Rewrites `model` in place into the training-step graph and describes its interface. */
export function buildStepGraph(model: Model, options: StepGraphOptions): StepGraph {
  const ctx = prepareInputs(model, options);
  const terms = addLoss(ctx);
  const gradients = addGradients(ctx, terms.loss);
  const accumulated = accumulate(ctx, gradients);
  const clipped = clip(ctx, accumulated);
  const plan = planUpdates(ctx, gradients, accumulated);
  const updated = applyUpdates(ctx, plan, clipped);
  const { parameters, state } = connectOutputs(ctx, terms, clipped, accumulated, plan, updated);

  const { g, io } = ctx;
  const batchNames = [...ctx.studentInputs, io.labels.name, ...(io.teacher ? [io.teacher.name] : [])];
  return {
    batch: batchNames.map((n) => ioInfo(g.get(n)!)),
    hyper: [io.alpha, io.temperature, io.lr, io.step, io.maxGradNorm, ...(io.apply ? [io.apply] : [])].map(ioInfo),
    accumulationSteps: ctx.accumulation,
    parameters,
    state,
    frozen: gradients.frozen,
    studentInputs: ctx.studentInputs,
    gradients: accumulated.sums.map((v) => v.name),
    gradScale: clipped.scale.name,
  };
}
