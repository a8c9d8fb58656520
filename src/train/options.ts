/** Options of a training run. Names and defaults follow Hugging Face `TrainingArguments` where HF has one. */
import type { Task } from '../losses/distill.js';
import type { OptimizerName } from '../optim/index.js';
import type { ExecutionProvider } from '../runtime/session.js';
import type { ScheduleName } from './schedule.js';

export interface TrainOptions {
  /** Teacher ONNX; without it, plain fine-tuning (cross-entropy only). */
  teacher?: string;
  student: string;
  trainFile: string;
  evalFile?: string;
  /** tokenizer.json (default: next to the student). */
  tokenizer?: string;
  /** Default: the student sidecar's task. */
  task?: Task;
  textField?: string;
  textPairField?: string;
  labelField?: string;
  /** Label names in id order (default: the student sidecar's id2label). */
  labels?: string[];
  temperature: number;
  alpha: number;
  optimizer: OptimizerName;
  learningRate: number;
  momentum: number;
  weightDecay: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  maxGradNorm: number;
  lrScheduler: ScheduleName;
  warmupSteps: number;
  batchSize: number;
  gradientAccumulationSteps: number;
  epochs: number;
  /** > 0 overrides epochs. */
  maxSteps: number;
  maxLength: number;
  seed: number;
  shuffle: boolean;
  /** Evaluate every N optimizer steps (and at each epoch end when an eval file is given). */
  evalSteps?: number;
  /** Save a checkpoint every N optimizer steps (and at the end). */
  saveSteps?: number;
  /** Keep at most N checkpoints, deleting the oldest (HF's save_total_limit); never the newest or the best. */
  saveTotalLimit?: number;
  /** Log every N optimizer steps (HF's logging_steps; default 10). */
  loggingSteps: number;
  teacherCache?: string;
  /** Stream the training file every epoch instead of holding it in memory (default: files over 512 MB). */
  streaming?: boolean;
  freeze: string[];
  /** Globs of initializers to train although parameter discovery calls them constants (docs/PARAMETERS.md). */
  trainable?: string[];
  /** A Hugging Face model folder (config.json, model.safetensors, tokenizer) for the student; default: beside it. */
  hfModel?: string;
  ep: ExecutionProvider;
  threads?: number;
  resumeFromCheckpoint?: string;
  earlyStoppingPatience?: number;
  outputDir: string;
  /** Train into an output folder that holds another run, replacing its checkpoints and results (HF's flag). */
  overwriteOutputDir?: boolean;
  /** Optimizer steps run per ONNX Runtime call (parameters stay inside ORT between them). */
  stepsPerCall: number;
  /**
   * Most bytes of batch inputs (token ids, masks, labels, teacher logits) queued for one call; a call ends
   * early rather than pass it. A causal LM's teacher logits are batch x sequence x vocabulary floats, 206 MB
   * per GPT-2 batch of 8 x 128, so 8 steps would hold 1.6 GB twice over: the queued batches and their stacked
   * copy. Default 256 MiB; a single accumulation window is never split.
   */
  callBytes: number;
  /**
   * Update parameters and optimizer state in place, one ONNX Runtime call per micro-batch, without ORT's
   * memory arena, from artifacts built without chunked updates: peak memory about 38% lower on a
   * 67M-parameter student, steps 20-35% slower (docs/PERFORMANCE.md). stepsPerCall then only sets how often
   * progress is reported.
   */
  lowMemory: boolean;
  /**
   * Compute only the rows of the student's last layer that its logits read (a classifier's [CLS] position;
   * docs/TRAINING-STEP.md): the same gradients for less work. False builds the whole graph, e.g. to compare.
   */
  narrowRows: boolean;
}

export const TRAIN_DEFAULTS: Omit<TrainOptions, 'student' | 'trainFile' | 'outputDir'> = {
  temperature: 2,
  alpha: 0.5,
  optimizer: 'adamw',
  learningRate: 5e-5,
  momentum: 0,
  weightDecay: 0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  maxGradNorm: 1,
  lrScheduler: 'linear',
  warmupSteps: 0,
  batchSize: 32,
  gradientAccumulationSteps: 1,
  epochs: 3,
  maxSteps: -1,
  maxLength: 128,
  seed: 42,
  shuffle: true,
  loggingSteps: 10,
  freeze: [],
  ep: 'cpu',
  stepsPerCall: 8,
  callBytes: 256 * 2 ** 20,
  lowMemory: false,
  narrowRows: true,
};
