/**
 * `distill build`: from a student (and optionally a teacher) ONNX file, write the training artifacts:
 *   train_step.onnx   one optimizer step (portable: drive it from any ONNX Runtime)
 *   train_loop.onnx   the same step inside an ONNX Loop over K stacked batches (what our runner uses)
 *   eval.onnx         student forward + loss terms
 *   train_grad.onnx, train_update.<dtype>.onnx   the step split in two, for low-memory mode (build/split-step.ts)
 *   initial_state.safetensors   the parameters to start from (optimizer state starts at the manifest's init)
 *   manifest.json     every input, output, parameter and state tensor, and the settings used
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { type SafeDtype, type SafeTensor, writeSafetensors } from '../export/safetensors.js';
import { type Model, modelFromProto, modelToProto } from '../ir/convert.js';
import { logitsRank, logitsShape, logitsWidth, type PreparedStudent, prepareStudent, savePreparedStudent } from '../params/student.js';
import type { Task } from '../losses/distill.js';
import { DataType, dtypeName } from '../onnx/dtype.js';
import { loadModel, saveModel } from '../onnx/model-io.js';
import { tensorBytes } from '../onnx/tensor.js';
import { createOptimizer, type OptimizerName } from '../optim/index.js';
import type { Optimizer } from '../optim/optimizer.js';
import { writeFileAtomic } from '../util/fs.js';
import { buildEvalGraph } from './eval-graph.js';
import { inPlaceViolations } from './in-place.js';
import { type BuildTarget, MANIFEST_FORMAT, METRICS, type Manifest, SPLIT_IO, STEP_IO, STUDENT_FILE, updateModelKey } from './contract.js';
import { buildFetchModel } from './fetch-state.js';
import { buildGradModel, buildUpdateModel, updateIO } from './split-step.js';
import { buildLoopGraph } from './loop.js';
import { buildStepGraph, type StepGraph } from './step-graph.js';

export interface BuildOptions {
  student: string;
  teacher?: string;
  task: Task;
  optimizer: OptimizerName;
  optimizerSettings?: Record<string, number | boolean>;
  logits?: string;
  freeze?: string[];
  /** A Hugging Face model folder (config.json, model.safetensors) for parameter discovery; default: beside the student. */
  hfModel?: string;
  /** Globs of initializers to train although parameter discovery calls them constants. */
  trainable?: string[];
  /**
   * 'hf' (default): weight decay as HF's Trainer applies it, not to biases and normalization weights.
   * 'all': to every parameter, as `torch.optim.AdamW(model.parameters())` does.
   */
  weightDecayGroups?: 'hf' | 'all';
  /** Micro-batches per optimizer step (default 1). */
  accumulationSteps?: number;
  /** Update large parameters chunk by chunk (default true; see StepGraphOptions.chunkedUpdate). */
  chunkedUpdate?: boolean;
  /** Update small parameters in groups (default true; see StepGraphOptions.groupedUpdate). */
  groupedUpdate?: boolean;
  /** Compute only the rows the logits read (default true; see StepGraphOptions.narrowRows). */
  narrowRows?: boolean;
  /**
   * The execution providers to build for (default 'cpu': any). 'gpu' (`distill build --ep webgpu`): every
   * per-step node in ops GPU providers run, float32 scalars, no chunked updates, and the fetch models
   * (docs/WEBGPU.md).
   */
  target?: BuildTarget;
  outDir: string;
}

const MEANING: Record<string, string> = {
  [STEP_IO.alpha]: 'weight of the cross-entropy term; (1 - alpha) weighs the KD term',
  [STEP_IO.temperature]: 'softmax temperature T of the KD term (which is scaled by T^2)',
  [STEP_IO.lr]: 'learning rate of this step (train_loop.onnx: one per stacked step, [steps])',
  [STEP_IO.step]:
    'train_step.onnx: 1-based index of this optimizer step (PyTorch state["step"] after increment; 0 gives NaN with AdamW). train_loop.onnx: optimizer steps completed before the call (0 at the start)',
  [STEP_IO.maxGradNorm]: 'clip the global L2 norm of the gradients to this (torch clip_grad_norm_); <= 0 disables clipping. grad_norm reports the norm before clipping',
  [STEP_IO.applyUpdate]: 'train_step.onnx with accumulation: true on the micro-batch that closes a window (the update is applied and the accumulators reset); train_loop.onnx computes it',
};


const SAFE: Partial<Record<number, SafeDtype>> = { [DataType.FLOAT]: 'F32', [DataType.DOUBLE]: 'F64', [DataType.FLOAT16]: 'F16', [DataType.BFLOAT16]: 'BF16' };

/** Teacher and student must agree on the label set / vocabulary, or the KD term compares different things. */
export function checkTeacherMatches(teacherFile: string, student: Model, studentFile: string, logits: string, task: Task): void {
  const teacher = modelFromProto(loadModel(teacherFile).model);
  if (!teacher.graph.outputs.some((o) => o.name === logits)) {
    throw new InputError(`${teacherFile}: the teacher has no output '${logits}' (its outputs: ${teacher.graph.outputs.map((o) => o.name).join(', ')})`);
  }
  // A different rank is a model of another task (a token classifier or LM for a sequence classifier): say
  // that, not that some width differs.
  const rank = logitsShape(teacher, logits)?.length;
  if (rank !== undefined && rank !== logitsRank(task)) {
    throw new InputError(`${teacherFile}: the teacher's '${logits}' have rank ${rank} ([${logitsShape(teacher, logits)!.join(', ')}]), a ${rank === 2 ? 'sequence classifier' : 'per-token model (token classifier or LM)'}; the student's task ${task} needs a teacher of the same task`);
  }
  const [t, s] = [logitsWidth(teacher, logits), logitsWidth(student, logits)];
  const what = task === 'causal-lm' ? 'vocabulary size' : 'label count';
  if (t !== undefined && s !== undefined && t !== s) {
    throw new InputError(`teacher and student differ in ${what}: ${teacherFile} has ${t}, ${studentFile} has ${s}`);
  }
}

/** What the build steps below share: the options resolved once, and the prepared student they build from. */
interface Build {
  options: BuildOptions;
  logits: string;
  target: BuildTarget;
  optimizer: Optimizer;
  student: PreparedStudent;
  /** The student's model, which buildStepGraph rewrites in place into train_step's graph. */
  stepModel: Model;
  opset: number;
}

/** How the models that hold the student's weights are saved: tensors over 1 MiB in a side file (<model>_data). */
const WEIGHTS_OUTSIDE = { externalData: { threshold: 1 << 20 } } as const;

const outFile = (build: Build, file: string) => path.join(build.options.outDir, file);

/** Writes every artifact listed at the top of this file into options.outDir, in build order; returns the manifest. */
export function buildTrainingArtifacts(options: BuildOptions): Manifest {
  const logits = options.logits ?? 'logits';
  const optimizer = createOptimizer(options.optimizer, options.optimizerSettings ?? {});
  const { student, studentFile } = writePreparedStudent(options, logits);
  const stepModel = student.model;
  const shape = logitsShape(stepModel, logits);
  if (shape && shape.length !== logitsRank(options.task)) {
    throw new InputError(`${options.student}: '${logits}' has shape [${shape.join(', ')}], not what task ${options.task} gives (rank ${logitsRank(options.task)}); pass the right --task`);
  }
  // Copied before the step graph rewrites the student: evaluation is the plain forward pass plus the loss.
  const evalModel = modelFromProto(modelToProto(stepModel));
  if (options.teacher) checkTeacherMatches(options.teacher, stepModel, options.student, logits, options.task);
  const build: Build = { options, logits, target: options.target ?? 'cpu', optimizer, student, stepModel, opset: stepModel.opset('')! };

  const step = buildStep(build);
  const inPlace = inPlaceViolations(stepModel.graph, [...step.parameters, ...step.state].map((t) => ({ input: t.name, output: t.output })));
  saveModel(modelToProto(stepModel), outFile(build, 'train_step.onnx'), WEIGHTS_OUTSIDE);
  writeTrainLoop(build, step);
  const updateModels = writeSplitStep(build, step);
  writeEvalModel(build, evalModel, step);
  const fetchModels = writeFetchModels(build, step);
  writeInitialState(build, step);

  const manifest = describeArtifacts(build, step, { studentFile, inPlace, updateModels, fetchModels });
  writeFileAtomic(outFile(build, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * The student with one initializer per PyTorch parameter (params/): what every model below is built from, and
 * what the trained weights are exported into. Saved into the output folder first, so the folder is
 * self-contained.
 */
function writePreparedStudent(options: BuildOptions, logits: string): { student: PreparedStudent; studentFile: string } {
  const student = prepareStudent(options.student, { hfModel: options.hfModel, trainable: options.trainable, logits });
  const studentOpset = student.model.opset('')!;
  if (studentOpset < 13) {
    throw new InputError(`${options.student}: ai.onnx opset ${studentOpset}; training needs opset >= 13 (re-export with opset_version=17)`);
  }
  fs.mkdirSync(options.outDir, { recursive: true });
  const studentFile = path.join(options.outDir, STUDENT_FILE);
  savePreparedStudent(student, studentFile);
  return { student, studentFile };
}

/** Rewrites the student into the training step (step-graph.ts), with the parameter groups the sidecar names. */
function buildStep(build: Build): StepGraph {
  const { options, student, target } = build;
  // The chunked update runs in a Scan, which GPU providers leave on the CPU.
  const chunkedUpdate = target === 'gpu' ? false : options.chunkedUpdate;
  return buildStepGraph(build.stepModel, {
    task: options.task, optimizer: build.optimizer, logits: build.logits, teacher: options.teacher !== undefined, freeze: options.freeze,
    accumulationSteps: options.accumulationSteps, target, chunkedUpdate, groupedUpdate: options.groupedUpdate, narrowRows: options.narrowRows,
    parameters: Object.keys(student.sidecar.parameters), paddingRows: student.sidecar.padding_rows,
    noDecay: options.weightDecayGroups === 'all' ? [] : student.sidecar.no_decay,
  });
}

function writeTrainLoop(build: Build, step: StepGraph): void {
  // The loop body is the same step graph: a structural copy (tensors shared), not a second build.
  const loopSource = modelFromProto(modelToProto(build.stepModel));
  loopSource.graph = buildLoopGraph(loopSource.graph, step, build.opset);
  saveModel(modelToProto(loopSource), outFile(build, 'train_loop.onnx'), WEIGHTS_OUTSIDE);
}

/**
 * Low-memory mode's split step, from the same step graph (so the same numbers): train_grad.onnx, and one
 * train_update model per dtype, plus one without weight decay where HF's no-decay group needs it. Returns the
 * update models' files by updateModelKey.
 */
function writeSplitStep(build: Build, step: StepGraph): Record<string, string> {
  const { stepModel, optimizer, opset } = build;
  saveModel(modelToProto(buildGradModel(stepModel, step)), outFile(build, 'train_grad.onnx'), WEIGHTS_OUTSIDE);
  const updateModels: Record<string, string> = {};
  const scalarTypes = {
    hyper: stepModel.graph.get(STEP_IO.lr)!.type.elemType ?? DataType.FLOAT,
    gradScale: stepModel.graph.get(step.gradScale)!.type.elemType ?? DataType.FLOAT,
  };
  for (const p of step.parameters) {
    const key = updateModelKey(p.dtype, p.decay);
    if (updateModels[key]) continue;
    const file = `train_update.${key}.onnx`;
    saveModel(modelToProto(buildUpdateModel(optimizer, p.initial.dataType, opset, scalarTypes, p.decay)), outFile(build, file));
    updateModels[key] = file;
  }
  return updateModels;
}

function writeEvalModel(build: Build, evalModel: Model, step: StepGraph): void {
  const { options, logits, target } = build;
  // Evaluation needs no teacher: eval_loss is the cross-entropy, as Hugging Face reports it.
  buildEvalGraph(evalModel, { task: options.task, logits, teacher: false, parameters: step.parameters.map((p) => p.name), narrowRows: options.narrowRows, target });
  saveModel(modelToProto(evalModel), outFile(build, 'eval.onnx'), WEIGHTS_OUTSIDE);
}

/**
 * GPU builds: the models that bring what a device-mode run leaves on the GPU to the host (build/fetch-state.ts).
 * Returns their files for the manifest, or undefined where the target has none.
 */
function writeFetchModels(build: Build, step: StepGraph): { fetch_state: string; fetch_metrics: string } | undefined {
  if (build.target !== 'gpu') return undefined;
  const fetchModels = { fetch_state: 'fetch_state.onnx', fetch_metrics: 'fetch_metrics.onnx' };
  const { stepModel, opset } = build;
  saveModel(modelToProto(buildFetchModel([...step.parameters, ...step.state], opset)), outFile(build, fetchModels.fetch_state));
  const metricType = dtypeName(stepModel.graph.get(STEP_IO.loss)!.type.elemType ?? DataType.FLOAT);
  saveModel(modelToProto(buildFetchModel(METRICS.map((name) => ({ name, dtype: metricType, shape: [] })), opset)), outFile(build, fetchModels.fetch_metrics));
  return fetchModels;
}

/** initial_state.safetensors: the parameters to start from (optimizer state starts at the manifest's init). */
function writeInitialState(build: Build, step: StepGraph): void {
  const tensors = new Map<string, SafeTensor>();
  for (const p of step.parameters) {
    const dtype = SAFE[p.initial.dataType];
    if (!dtype) throw new InputError(`parameter '${p.name}' has a dtype safetensors cannot hold`);
    tensors.set(p.name, { dtype, shape: p.shape, bytes: tensorBytes(p.initial) });
  }
  writeSafetensors(outFile(build, 'initial_state.safetensors'), tensors, { format: 'onnx-distill initial parameters' });
}

/** What the build steps wrote that the manifest names, besides the step graph's own interface. */
interface Written {
  studentFile: string;
  inPlace: string[];
  updateModels: Record<string, string>;
  fetchModels: { fetch_state: string; fetch_metrics: string } | undefined;
}

/** manifest.json: every input, output, parameter and state tensor, and the settings used. */
function describeArtifacts(build: Build, step: StepGraph, written: Written): Manifest {
  const { options, student, optimizer } = build;
  return {
    format: MANIFEST_FORMAT,
    task: options.task,
    student: path.resolve(written.studentFile),
    student_source: path.resolve(options.student),
    parameter_source: student.plan.source,
    warnings: student.plan.warnings,
    teacher: options.teacher ? path.resolve(options.teacher) : null,
    opset: build.opset,
    target: build.target,
    models: {
      train_step: 'train_step.onnx', train_loop: 'train_loop.onnx', eval: 'eval.onnx', train_grad: 'train_grad.onnx', train_update: written.updateModels,
      ...written.fetchModels,
    },
    initial_state: 'initial_state.safetensors',
    batch: step.batch.map((b) => ({
      ...b,
      pad: b.name === STEP_IO.labels ? -100 : 0,
      sequence_axis: b.shape.length >= 2 && typeof b.shape[1] !== 'number' ? 1 : null,
    })),
    hyperparameters: step.hyper.map((h) => ({ ...h, meaning: MEANING[h.name] ?? '' })),
    metrics: [...METRICS],
    parameters: step.parameters.map(({ initial: _initial, ...rest }) => rest),
    state: step.state,
    frozen: step.frozen,
    accumulation_steps: step.accumulationSteps,
    in_place: { safe: written.inPlace.length === 0, violations: written.inPlace.slice(0, 10) },
    optimizer: { name: optimizer.name, settings: optimizer.settings },
    split_step: {
      grad_scale: SPLIT_IO.gradScale,
      gradients: step.parameters.map((p) => ({ param: p.name, output: SPLIT_IO.gradient(p.name) })),
      update: updateIO(optimizer),
    },
    loop: describeLoop(step),
  };
}

/** train_loop.onnx's interface, in words: its inputs are train_step's, stacked along a leading `steps` axis. */
function describeLoop(step: StepGraph): Manifest['loop'] {
  return {
    stacked_axis: 'steps',
    inputs: [
      ...step.batch.map((b) => `${b.name} [steps, ${b.shape.join(', ')}]`),
      `${STEP_IO.lr} [steps]`, `${STEP_IO.step} [] (optimizer steps completed before the call)`,
      ...step.hyper.filter((h) => h.name !== STEP_IO.lr && h.name !== STEP_IO.step && h.name !== STEP_IO.applyUpdate).map((h) => `${h.name} []`),
      'parameters and state, as in train_step.onnx',
    ],
    outputs: [...METRICS.map((m) => `${m} [steps]`), 'new/<parameter> and new/<state> after the last step'],
    note: 'one micro-batch per slice of the steps axis; with accumulation_steps N an optimizer step closes every N slices, so pass a multiple of N',
  };
}
