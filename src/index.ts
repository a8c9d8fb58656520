/**
 * onnx-distill as a library. The CLI (`distill`) is a thin layer over these.
 */
export { DistillError, GraphError, InputError, ModelFormatError } from './errors.js';

// ONNX files and the graph IR.
export { loadModel, saveModel, encodeModel, decodeModel, type LoadedModel, type SaveOptions } from './onnx/model-io.js';
export { summarizeModel, type ModelSummary } from './onnx/summary.js';
export { DataType, dtypeName } from './onnx/dtype.js';
export { Graph, Node, Value, type Dim, type TensorType } from './ir/graph.js';
export { Builder } from './ir/builder.js';
export { attr } from './ir/attributes.js';
export { Model, modelFromProto, modelToProto, newModel } from './ir/convert.js';
export { inferTypes } from './ir/infer.js';

// Autodiff.
export { differentiate, type DifferentiateOptions, type GradientResult } from './autodiff/differentiate.js';
export { addGradients, selectParameters, type GradientModelOptions } from './autodiff/gradient-model.js';
export { differentiableOps, differentiablePatterns } from './autodiff/rules/index.js';
export { gradCoverage, type GradCoverage, type UncoveredNode } from './autodiff/coverage.js';
export type { GradContext, GradRule } from './autodiff/rule.js';

// Losses, optimizers, training-step artifacts.
export { crossEntropy } from './losses/cross-entropy.js';
export { distillationLoss, TASKS, type Task } from './losses/distill.js';
export { createOptimizer, clipGradNorm, type OptimizerName } from './optim/index.js';
export { buildTrainingArtifacts, type BuildOptions } from './step/artifacts.js';
export { type Manifest, STEP_IO, METRICS } from './step/contract.js';
export { readManifest } from './step/read-manifest.js';

// Running them.
export { createSession, EXECUTION_PROVIDERS, type ExecutionProvider } from './runtime/session.js';
export { TrainerSession, type Hyperparameters, type StepMetrics } from './runtime/trainer-session.js';
export { stackBatches, type Batch } from './runtime/batch.js';

// Training.
export { train, type TrainCallbacks, type TrainResult, type Progress } from './train/trainer.js';
export { TRAIN_DEFAULTS, type TrainOptions } from './train/options.js';
export { search, type SearchOptions, type SearchOutcome, type SearchResults, type Trial } from './search/search.js';
export { parseSpace, type ParamRange } from './search/space.js';
export { quantizeDynamic, type QuantizeOptions, type QuantizeReport } from './quantize/dynamic.js';
export { quantizeModelFile } from './quantize/model-file.js';
export { learningRate, SCHEDULES, type ScheduleName } from './train/schedule.js';

// Export.
export { exportStudent } from './export/student.js';
export { readSafetensors, writeSafetensors } from './export/safetensors.js';
