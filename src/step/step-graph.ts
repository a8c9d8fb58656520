/**
 * The training step as one pure ONNX graph:
 *   (batch, teacher logits, hyperparameters, parameters, optimizer state)
 *     -> (loss, ce, kd, grad_norm, new parameters, new optimizer state)
 * built on the student's own graph: distillation loss, reverse-mode gradients, global-norm clipping and the
 * optimizer update, all in standard ai.onnx ops. Hyperparameters that change during training are inputs, so
 * one graph serves the whole run.
 */
import { GraphError, InputError } from '../errors.js';
import { differentiate } from '../autodiff/differentiate.js';
import { PADDING_IDX_KEY } from '../autodiff/rules/gather.js';
import { selectParameters } from '../autodiff/gradient-model.js';
import { Builder } from '../ir/builder.js';
import { narrowToReadRows } from '../ir/narrow-rows.js';
import type { Model } from '../ir/convert.js';
import type { Graph, TensorType, Value } from '../ir/graph.js';
import { distillationLoss, type Task } from '../losses/distill.js';
import { type BuildTarget, STEP_IO, newName, stateName } from './contract.js';
import { limitFanIn, lowerForGpu } from './gpu-ops.js';
import { DataType, dtypeName } from '../onnx/dtype.js';
import type { TensorProto } from '../onnx/proto.js';
import { clipCoefficient } from '../optim/clip.js';
import { type ChunkPlan, chunkPlan, scanChunks } from '../optim/chunked.js';
import { groupable, groupedUpdate, memberGroups } from '../optim/grouped.js';
import type { Optimizer, ParamUpdate, StepScalars } from '../optim/optimizer.js';


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

const dimsOf = (t: TensorProto) => t.dims.map(Number);

function ioInfo(v: Value): IoInfo {
  return {
    name: v.name,
    dtype: dtypeName(v.type.elemType ?? 0),
    shape: (v.type.shape ?? []).map((d) => d ?? '?'),
  };
}

function rename(g: Graph, v: Value, name: string): Value {
  if (g.get(name)) throw new InputError(`the student model already has a value named '${name}'; rename it before building`);
  return g.rename(v, name);
}

/**
 * Exposes a freshly computed tensor (an updated parameter or state) as output `name` by renaming it, not
 * through an Identity: ORT copies Identity outputs, which for base-size models was 800 MB per step. Values
 * that are graph inputs or already outputs keep an Identity.
 */
function output(g: Graph, b: Builder, v: Value, name: string): Value {
  const fresh = v.producer !== null && !g.inputs.includes(v) && !g.outputs.includes(v) && v.name.startsWith(b.prefix);
  return rename(g, fresh ? v : b.op('Identity', [v]), name);
}

/** `optimizer.apply` over cache-sized chunks of the parameter, gradient and state (optim/chunked.ts). */
function chunkedUpdate(b: Builder, optimizer: Optimizer, plan: ChunkPlan, scalars: StepScalars, u: ParamUpdate): { param: Value; state: Value[] } {
  const [param, ...state] = scanChunks(b, 'update_chunks', plan, scalars, [u.param, u.grad, ...u.state], (bb, s, [p, grad, ...st]) => {
    const r = optimizer.apply(bb, s, { param: p!, grad: grad!, state: st, decay: u.decay });
    return [r.param, ...r.state];
  });
  return { param: param!, state };
}

/**
 * Tells the Gather rule which embedding rows PyTorch's nn.Embedding(padding_idx) never updates through a
 * lookup (autodiff/rules/gather.ts): the lookups of those tables get a metadata mark. Other uses of the
 * table (a tied LM head) still send their gradient to the row, as in PyTorch.
 */
function markPaddingRows(g: Graph, rows: Readonly<Record<string, number>>): void {
  for (const [name, row] of Object.entries(rows)) {
    for (const node of g.get(name)?.uses ?? []) {
      if (node.opType !== 'Gather' || node.inputs[0]?.name !== name || node.attrs.int('axis', 0) !== 0) continue;
      node.extras = { ...node.extras, metadataProps: [...(node.extras.metadataProps ?? []), { key: PADDING_IDX_KEY, value: String(row) }] };
    }
  }
}

/** Adds an interface input, with a message that tells the user what to rename when the name is taken. */
function addInput(g: Graph, name: string, type: TensorType): Value {
  if (g.get(name)) throw new InputError(`the student model already has a value named '${name}'; rename it before building`);
  return g.addInput(name, type);
}

/** Rewrites `model` in place into the training-step graph and describes its interface. */
export function buildStepGraph(model: Model, options: StepGraphOptions): StepGraph {
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
  g.outputs = [student];
  // A step's sums over batch and sequence depend on the padding anyway, so its attention narrows too.
  if (options.narrowRows !== false) narrowToReadRows(g, opset, { exactAcrossPadding: false });
  const floatType = student.type.elemType ?? DataType.FLOAT;
  if (options.target === 'gpu' && floatType !== DataType.FLOAT) {
    throw new InputError(`building for the GPU needs a float32 student (GPU providers have no float64 kernels); its logits are ${dtypeName(floatType)}`);
  }
  const scalar: TensorType = { elemType: floatType, shape: [] };
  const b = new Builder(g, { opset, prefix: 'step/' });

  const labelShape = options.task === 'seq-cls' ? ['batch'] : ['batch', 'sequence'];
  const labels = addInput(g, STEP_IO.labels, { elemType: DataType.INT64, shape: labelShape });
  const teacher = options.teacher
    ? addInput(g, STEP_IO.teacherLogits, { elemType: floatType, shape: student.type.shape?.map((d, i) => d ?? `logits_d${i}`) })
    : undefined;
  const alpha = addInput(g, STEP_IO.alpha, scalar);
  const temperature = addInput(g, STEP_IO.temperature, scalar);
  const lr = addInput(g, STEP_IO.lr, scalar);
  const step = addInput(g, STEP_IO.step, scalar);
  const maxGradNorm = addInput(g, STEP_IO.maxGradNorm, scalar);
  const attentionMask = g.get('attention_mask');
  if (options.task === 'causal-lm' && !g.inputs.includes(attentionMask!)) {
    throw new InputError("causal-lm training needs the student's 'attention_mask' input to ignore padded targets");
  }

  const { loss, ce, kd } = distillationLoss(b, options.task, {
    student,
    teacher,
    labels,
    attentionMask,
    alpha,
    temperature,
  });

  markPaddingRows(g, options.paddingRows ?? {});
  const candidates = selectParameters(model, undefined, options.freeze ?? []).filter((v) => !options.parameters || options.parameters.includes(v.name));
  if (candidates.length === 0) throw new InputError('no trainable parameters: every parameter is frozen (check --freeze)');
  const grads = differentiate(g, { loss, wrt: candidates, opset });
  const trained = candidates.filter((p) => grads.gradients.has(p.name));
  if (trained.length === 0) throw new GraphError('the loss does not depend on any trainable parameter');
  const frozen = g.initializers.filter((v) => !trained.includes(v)).map((v) => v.name);

  // Gradient accumulation: gradients add up in `<param>.grad_accum` state; on the micro-batch that closes a
  // window (apply_update true) the mean of the window is clipped and applied and the accumulators reset.
  // The update is computed on every micro-batch and selected with Where: elementwise work that is small next
  // to a forward/backward pass, and it keeps the graph free of control flow.
  const accumulation = options.accumulationSteps ?? 1;
  if (!Number.isInteger(accumulation) || accumulation < 1) throw new InputError(`gradient accumulation steps must be a positive integer, got ${accumulation}`);
  const apply = accumulation > 1 ? addInput(g, STEP_IO.applyUpdate, { elemType: DataType.BOOL, shape: [] }) : undefined;
  const parameters: ParameterInfo[] = [];
  const state: StateInfo[] = [];
  const accumulated: Value[] = [];
  const accumulators: { input: Value; param: Value }[] = [];
  for (const p of trained) {
    const grad = grads.gradients.get(p.name)!;
    if (!apply) {
      accumulated.push(grad);
      continue;
    }
    const input = addInput(g, stateName(p.name, 'grad_accum'), { elemType: p.initializer!.dataType, shape: dimsOf(p.initializer!) });
    accumulators.push({ input, param: p });
    accumulated.push(b.add(input, grad));
  }
  // The window's mean gradient is sum / n: 1/n joins the clipping coefficient as one scalar that the optimizer
  // folds into its own coefficients, so neither the mean nor the clipping costs a pass over the gradients.
  const clipped = clipCoefficient(b, accumulated, maxGradNorm, apply ? 1 / accumulation : 1);
  const outputs: Value[] = [rename(g, b.op('Identity', [loss]), STEP_IO.loss), rename(g, b.op('Identity', [ce]), STEP_IO.ce),
    rename(g, b.op('Identity', [kd]), STEP_IO.kd), rename(g, b.op('Identity', [clipped.norm]), STEP_IO.gradNorm)];
  const keepUnlessApplied = (updated: Value, old: Value) => (apply ? b.op('Where', [apply, updated, old]) : updated);
  const specs = options.optimizer.stateSpecs();
  const optimizer = options.optimizer;
  const gpu = options.target === 'gpu';
  const stepInputs = { lr, step, gradScale: clipped.scale, scalarType: gpu ? DataType.FLOAT : DataType.DOUBLE } as const;
  // Interface first (each parameter, then its state), then the updates: chunked (large), grouped (small,
  // per dtype) or plain, then the outputs in interface order.
  const entries = trained.map((p, k) => {
    const initial = g.promoteToInput(p);
    const shape = dimsOf(initial);
    const plan = options.chunkedUpdate === false ? null : chunkPlan(shape);
    // A chunked parameter and its state travel as [chunks, length]; the model reads the parameter through a
    // Reshape to its own shape, which ORT runs as a view (docs/TRAINING-STEP.md, "Chunked and grouped updates").
    const ioShape = plan ? [plan.chunks, plan.length] : shape;
    if (plan) {
      const view = g.newValue(`${b.prefix}${p.name}/view`);
      view.type = { elemType: initial.dataType, shape };
      g.replaceAllUses(p, view);
      b.added.push(g.addNode('Reshape', [p, b.int64(shape)], [view], [], { name: `${b.prefix}${p.name}/view` }));
      p.type = { elemType: initial.dataType, shape: ioShape };
    }
    const stateIn = specs.map((s) => addInput(g, stateName(p.name, s.suffix), { elemType: initial.dataType, shape: ioShape }));
    const decay = !options.noDecay?.includes(p.name);
    const update: ParamUpdate = { param: p, grad: plan ? b.reshape(accumulated[k]!, ioShape) : accumulated[k]!, state: stateIn, decay };
    return { p, initial, shape, dtype: dtypeName(initial.dataType), plan, ioShape, update, decay };
  });
  const updated = new Map<Value, { param: Value; state: Value[] }>();
  const groups = new Map<string, typeof entries>(); // by dtype and weight decay: one update rule per group
  if (options.groupedUpdate !== false) {
    for (const e of entries) {
      if (e.plan || !groupable(e.shape)) continue;
      const key = `${e.dtype}/${e.decay}`;
      const group = groups.get(key);
      if (group) group.push(e);
      else groups.set(key, [e]);
    }
  }
  for (const group of [...groups.values()].flatMap(memberGroups)) {
    const scalars = optimizer.perStep(b, stepInputs, group[0]!.p);
    const results = groupedUpdate(b, optimizer, scalars, group.map((e) => e.update), group.map((e) => e.shape));
    group.forEach((e, i) => updated.set(e.p, results[i]!));
  }
  for (const e of entries) {
    if (updated.has(e.p)) continue;
    const scalars = optimizer.perStep(b, stepInputs, e.p);
    updated.set(e.p, e.plan ? chunkedUpdate(b, optimizer, e.plan, scalars, e.update) : optimizer.apply(b, scalars, e.update));
  }
  for (const { p, initial, shape, dtype, plan, ioShape, update, decay } of entries) {
    const upd = updated.get(p)!;
    outputs.push(output(g, b, keepUnlessApplied(upd.param, p), newName(p.name)));
    const io = plan ? { ioShape } : {};
    parameters.push({ name: p.name, dtype, shape, ...io, output: newName(p.name), initial, decay });
    upd.state.forEach((s, i) => {
      const name = update.state[i]!.name;
      outputs.push(output(g, b, keepUnlessApplied(s, update.state[i]!), newName(name)));
      state.push({ name, param: p.name, dtype, shape, ...io, init: specs[i]!.init, output: newName(name) });
    });
  }
  accumulators.forEach(({ input, param }) => {
    const reset = b.op('Where', [apply!, b.scalarLike(0, input), accumulated[trained.indexOf(param)]!]);
    outputs.push(output(g, b, reset, newName(input.name)));
    state.push({ name: input.name, param: param.name, dtype: dtypeName(input.type.elemType!), shape: input.type.shape as number[], init: 0, output: newName(input.name) });
  });
  g.outputs = outputs;
  g.eliminateDeadCode();
  limitFanIn(g, opset);
  if (gpu) lowerForGpu(g, opset);

  const batchNames = [...studentInputs, labels.name, ...(teacher ? [teacher.name] : [])];
  return {
    batch: batchNames.map((n) => ioInfo(g.get(n)!)),
    hyper: [alpha, temperature, lr, step, maxGradNorm, ...(apply ? [apply] : [])].map(ioInfo),
    accumulationSteps: accumulation,
    parameters,
    state,
    frozen,
    studentInputs,
    gradients: entries.map((e) => accumulated[trained.indexOf(e.p)]!.name),
    gradScale: clipped.scale.name,
  };
}
