/**
 * Every option of `distill train`, `distill build`, `distill eval` and `distill search`, declared once: its flag, type,
 * default, help text, the Hugging Face `TrainingArguments` name where HF has the option, and the commands
 * that take it. The yargs options and `--help` (cli/options.ts), the `TrainOptions` type, `TRAIN_DEFAULTS` and
 * the names in training_args.json (output-dir.ts) all come from this table; names and defaults follow HF's
 * where HF has one.
 */
import { InputError } from '../errors.js';
import { TASKS } from '../losses/distill.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../optim/index.js';
import { EXECUTION_PROVIDERS } from '../runtime/session.js';
import { SCHEDULES } from './schedule.js';

export type Command = 'train' | 'build' | 'eval' | 'search';

/** How one command takes an option, where it differs from the table's entry. */
export interface CommandUse {
  /** The command refuses to run without it. */
  demand?: true;
  help?: string;
  /** Added to the table's help text (where the option means the same with a qualification). */
  helpSuffix?: string;
  choices?: readonly string[];
  /** Another flag for the same option (an older name kept working). */
  alias?: string;
}

/**
 * The values a number option takes. The CLI refuses any other before a run starts (checkNumber), so a
 * mistyped value fails in one line instead of training silently on it or failing steps later.
 */
export interface NumberRange {
  /** Whole numbers only. */
  integer?: true;
  /** The smallest value allowed. */
  min?: number;
  /** Values must be greater than this. */
  above?: number;
  /** The largest value allowed. */
  max?: number;
  /** Values must be smaller than this. */
  below?: number;
  /** What else to do, where the range alone does not say (e.g. leave the option out for its default). */
  hint?: string;
}

export interface OptionSpec {
  /** The command-line flag, kebab-case; null for an option of the library alone. */
  flag: string | null;
  /** 'strings': a repeatable flag (`--freeze a b`). */
  type: 'string' | 'number' | 'boolean' | 'strings';
  choices?: readonly string[];
  default?: string | number | boolean | readonly string[];
  /** The values of a number option (any finite number without it). */
  range?: NumberRange;
  help: string;
  /** The HF `TrainingArguments` field, where HF has this option (training_args.json uses it). */
  hf?: string;
  /** Each value may also list several, comma-separated (`--labels ham,spam`). */
  commaList?: true;
  /** The commands that take it. `search` also takes every `train` option but those in NOT_SEARCHED (useOf). */
  in: Partial<Record<Command, CommandUse>>;
}

/** `train` options that a search sets for each trial itself (trials log no losses; the trial table is the log). */
const NOT_SEARCHED: ReadonlySet<string> = new Set(['resume-from-checkpoint', 'overwrite-output-dir', 'logging-steps']);

/**
 * How `command` takes an option, or undefined: a search's trials are train() runs, so `search` takes
 * `train`'s options (with their help) unless the table says otherwise.
 */
export function useOf(spec: OptionSpec, command: Command): CommandUse | undefined {
  if (command !== 'search') return spec.in[command];
  if (spec.in.search) return spec.in.search;
  return spec.in.train && !NOT_SEARCHED.has(spec.flag ?? '') ? spec.in.train : undefined;
}

const ALL: CommandUse = {};
/** A searchable option in `distill search`: the value of the trials that do not search it. */
const UNLESS_SEARCHED: CommandUse = { helpSuffix: ', when not searched' };

export const OPTIONS = {
  teacher: {
    flag: 'teacher', type: 'string', help: 'teacher ONNX (omit for plain fine-tuning)',
    in: { train: ALL, build: ALL, search: { demand: true, help: 'teacher ONNX' } },
  },
  student: {
    flag: 'student', type: 'string', help: 'student ONNX (its folder may hold config.json, model.safetensors, tokenizer.json, distill.json)',
    in: { train: { demand: true }, build: { demand: true } },
  },
  hfModel: {
    flag: 'hf-model', type: 'string',
    help: "Hugging Face folder of the student (config.json, model.safetensors, tokenizer): which initializers are PyTorch's parameters and their names (default: the student's folder; docs/PARAMETERS.md)",
    in: { train: ALL, build: ALL },
  },
  trainable: {
    flag: 'trainable', type: 'strings', default: [], help: 'initializer globs to train although they look like constants (scalars, masks)',
    in: { train: ALL, build: ALL },
  },
  trainFile: { flag: 'train-file', type: 'string', help: 'training data: .jsonl or .csv', in: { train: { demand: true } } },
  evalFile: {
    flag: 'eval-file', type: 'string', help: 'evaluation data: JSONL, CSV or TSV file (format from the extension)',
    in: { train: ALL, eval: { demand: true }, search: { demand: true, help: 'evaluation data: ranks and prunes the trials' } },
  },
  models: {
    flag: 'model', type: 'strings', help: 'ONNX model or model folder; repeat to compare (e.g. teacher, then student)', in: { eval: { demand: true } },
  },
  tokenizer: { flag: 'tokenizer', type: 'string', help: "tokenizer.json (default: the one in the model's folder)", in: { train: ALL, eval: ALL } },
  task: {
    flag: 'task', type: 'string', choices: TASKS,
    help: "what the logits mean (default: config.json's architectures or the model's distill.json)",
    in: { train: ALL, build: ALL, eval: ALL },
  },
  textField: { flag: 'text-field', type: 'string', default: 'text', help: 'field (JSONL) or column (CSV) of the text', in: { train: ALL, eval: ALL } },
  textPairField: { flag: 'text-pair-field', type: 'string', help: "field or column of a pair's second text (e.g. an NLI hypothesis)", in: { train: ALL } },
  labelField: { flag: 'label-field', type: 'string', help: "field or column of the label (default 'label'; token-cls: 'labels')", in: { train: ALL, eval: ALL } },
  labels: {
    flag: 'labels', type: 'strings', commaList: true,
    help: "label names in id order (default: config.json's or the sidecar's id2label; integer labels need none)",
    in: { train: ALL },
  },
  temperature: {
    flag: 'temperature', type: 'number', default: 2, range: { above: 0 }, help: 'softmax temperature of the distillation term',
    in: { train: ALL, search: UNLESS_SEARCHED },
  },
  alpha: {
    flag: 'alpha', type: 'number', default: 0.5, range: { min: 0, max: 1 }, help: 'weight of the cross-entropy term (1 - alpha: the distillation term)',
    in: { train: ALL, search: UNLESS_SEARCHED },
  },
  optimizer: { flag: 'optimizer', type: 'string', choices: OPTIMIZER_NAMES, default: 'adamw', help: 'torch.optim algorithm', hf: 'optim', in: { train: ALL, build: ALL } },
  learningRate: {
    flag: 'learning-rate', type: 'number', default: 5e-5, range: { above: 0 }, help: 'peak learning rate', hf: 'learning_rate',
    in: { train: ALL, search: UNLESS_SEARCHED },
  },
  momentum: { flag: 'momentum', type: 'number', default: 0, range: { min: 0 }, help: 'SGD momentum', in: { train: ALL, build: ALL } },
  dampening: { flag: 'dampening', type: 'number', default: 0, help: 'SGD dampening', in: { train: ALL, build: ALL } },
  nesterov: { flag: 'nesterov', type: 'boolean', default: false, help: 'SGD Nesterov momentum (needs --momentum > 0 and --dampening 0)', in: { train: ALL, build: ALL } },
  weightDecay: {
    flag: 'weight-decay', type: 'number', default: 0, range: { min: 0 }, hf: 'weight_decay',
    help: "AdamW's decoupled decay / SGD's L2 term; as HF's Trainer, not applied to biases and normalization weights",
    in: { train: ALL, build: ALL },
  },
  adamBeta1: { flag: 'adam-beta1', type: 'number', default: 0.9, range: { min: 0, below: 1 }, help: "AdamW's beta1", hf: 'adam_beta1', in: { train: ALL, build: ALL } },
  adamBeta2: { flag: 'adam-beta2', type: 'number', default: 0.999, range: { min: 0, below: 1 }, help: "AdamW's beta2", hf: 'adam_beta2', in: { train: ALL, build: ALL } },
  adamEpsilon: { flag: 'adam-epsilon', type: 'number', default: 1e-8, range: { min: 0 }, help: "AdamW's epsilon", hf: 'adam_epsilon', in: { train: ALL, build: ALL } },
  maxGradNorm: { flag: 'max-grad-norm', type: 'number', default: 1, help: 'clip the global gradient norm to this', hf: 'max_grad_norm', in: { train: ALL } },
  lrScheduler: {
    flag: 'lr-scheduler', type: 'string', choices: SCHEDULES, default: 'linear', help: 'learning-rate schedule after the warmup', hf: 'lr_scheduler_type',
    in: { train: ALL },
  },
  warmupSteps: { flag: 'warmup-steps', type: 'number', default: 0, range: { integer: true, min: 0 }, help: 'optimizer steps of linear warmup from 0', hf: 'warmup_steps', in: { train: ALL } },
  batchSize: { flag: 'batch-size', type: 'number', default: 32, range: { integer: true, min: 1 }, help: 'rows per batch', hf: 'per_device_train_batch_size', in: { train: ALL, eval: ALL } },
  gradientAccumulationSteps: {
    flag: 'gradient-accumulation-steps', type: 'number', default: 1, range: { integer: true, min: 1 }, help: 'batches whose gradients make one optimizer step', hf: 'gradient_accumulation_steps',
    in: { train: ALL },
  },
  epochs: {
    flag: 'epochs', type: 'number', default: 3, range: { integer: true, min: 0, hint: 'at least 1 unless --max-steps N > 0 is given' }, help: 'passes over the training data', hf: 'num_train_epochs',
    in: { train: ALL, search: UNLESS_SEARCHED },
  },
  maxSteps: { flag: 'max-steps', type: 'number', default: -1, range: { integer: true, min: -1, hint: '-1: train for --epochs' }, help: 'optimizer steps; > 0 overrides --epochs', hf: 'max_steps', in: { train: ALL } },
  maxLength: {
    flag: 'max-length', type: 'number', default: 128, range: { integer: true, min: 2 }, help: "truncate rows to this many tokens (and to the model's max_position_embeddings)",
    in: { train: ALL, eval: ALL },
  },
  seed: { flag: 'seed', type: 'number', default: 42, range: { integer: true, min: 0 }, help: 'seed of the batch order', hf: 'seed', in: { train: ALL } },
  shuffle: { flag: 'shuffle', type: 'boolean', default: true, help: '--no-shuffle: batches in file order', in: { train: ALL } },
  evalSteps: {
    flag: 'eval-steps', type: 'number', range: { integer: true, min: 1 }, help: 'evaluate every N optimizer steps (also at each epoch end)', hf: 'eval_steps',
    in: { train: ALL, search: { help: 'evaluate (and maybe prune) every N steps as well as at each epoch end' } },
  },
  saveSteps: { flag: 'save-steps', type: 'number', range: { integer: true, min: 1 }, help: 'checkpoint every N optimizer steps (also at the end)', hf: 'save_steps', in: { train: ALL } },
  saveTotalLimit: {
    flag: 'save-total-limit', type: 'number', range: { integer: true, min: 1 }, help: 'keep at most N checkpoints, deleting the oldest (never the newest or the best)', hf: 'save_total_limit',
    in: { train: ALL },
  },
  loggingSteps: { flag: 'logging-steps', type: 'number', default: 10, range: { integer: true, min: 1 }, help: 'log the mean loss every N optimizer steps', hf: 'logging_steps', in: { train: ALL } },
  teacherCache: {
    flag: 'teacher-cache', type: 'string', help: "cache the teacher's logits in DIR",
    in: { train: ALL, search: { help: "the teacher-logit cache the trials share (default: OUTPUT_DIR/teacher-cache)" } },
  },
  streaming: {
    flag: 'streaming', type: 'boolean', help: 'read the training file anew each epoch instead of holding it in memory (default: files over 512 MB)',
    in: { train: ALL },
  },
  freeze: { flag: 'freeze', type: 'strings', default: [], help: 'parameter name globs to keep frozen', in: { train: ALL, build: ALL } },
  ep: {
    flag: 'ep', type: 'string', choices: EXECUTION_PROVIDERS, default: 'cpu', help: 'ONNX Runtime execution provider',
    in: {
      train: ALL,
      // A build is for the CPU's providers or for WebGPU's (docs/WEBGPU.md).
      build: {
        choices: ['cpu', 'webgpu'],
        help: 'execution provider to build for: webgpu keeps every per-step node on the GPU (float32 scalars, GPU-run ops, fetch_state.onnx; docs/WEBGPU.md)',
      },
      eval: ALL,
    },
  },
  threads: { flag: 'threads', type: 'number', range: { integer: true, min: 1, hint: 'leave it out to use all cores' }, help: 'ONNX Runtime intra-op threads (default: all cores)', in: { train: ALL, eval: ALL } },
  stepsPerCall: {
    flag: 'steps-per-call', type: 'number', default: 8, range: { integer: true, min: 1 },
    help: 'optimizer steps per ONNX Runtime call (parameters stay inside ORT between them; with --low-memory only how often progress is reported)',
    in: { train: ALL },
  },
  // A causal LM's teacher logits are batch x sequence x vocabulary floats, 206 MB per GPT-2 batch of 8 x 128,
  // so 8 steps would hold 1.6 GB twice over: the queued batches and their stacked copy.
  callBytes: {
    flag: null, type: 'number', default: 256 * 2 ** 20, range: { integer: true, min: 1 },
    help: 'most bytes of batch inputs (token ids, masks, labels, teacher logits) queued for one call; a call ends early rather than pass it, but a single accumulation window is never split',
    in: { train: ALL },
  },
  lowMemory: {
    flag: 'low-memory', type: 'boolean', default: false,
    help: 'update parameters and optimizer state in place, one ORT call per micro-batch, without the memory arena: less memory, slower steps (docs/TRAINING.md, docs/PERFORMANCE.md)',
    in: { train: ALL },
  },
  narrowRows: {
    flag: 'narrow-rows', type: 'boolean', default: true,
    help: "compute only the rows of the last layer the logits read (a classifier's [CLS] position; docs/TRAINING-STEP.md); --no-narrow-rows builds it whole",
    in: { train: ALL, build: ALL },
  },
  earlyStoppingPatience: { flag: 'early-stopping-patience', type: 'number', range: { integer: true, min: 1 }, help: 'stop after N evaluations without a better metric', in: { train: ALL } },
  resumeFromCheckpoint: {
    flag: 'resume-from-checkpoint', type: 'string', help: "checkpoint folder, or 'latest' in --output-dir", hf: 'resume_from_checkpoint', in: { train: ALL },
  },
  outputDir: {
    flag: 'output-dir', type: 'string', help: 'output folder', hf: 'output_dir',
    in: { train: { demand: true }, build: { demand: true, alias: 'out' }, search: { demand: true, help: 'trial-N/ folders, search_results.json, best/ (run again to resume)' } },
  },
  overwriteOutputDir: {
    flag: 'overwrite-output-dir', type: 'boolean', default: false, help: "replace another run's checkpoints and results in --output-dir",
    hf: 'overwrite_output_dir', in: { train: ALL },
  },
  logits: { flag: 'logits', type: 'string', default: 'logits', help: "name of the student's logits output", in: { build: ALL } },
  chunkedUpdate: {
    flag: 'chunked-update', type: 'boolean', default: true,
    help: 'update large parameters chunk by chunk in a Scan (faster on CPUs; off in builds for --ep webgpu)', in: { build: ALL },
  },
  groupedUpdate: {
    flag: 'grouped-update', type: 'boolean', default: true,
    help: 'update small parameters (biases, norms) in groups of up to 7, one update each (fewer kernels)', in: { build: ALL },
  },
  repeats: { flag: 'repeats', type: 'number', default: 1, range: { integer: true, min: 1 }, help: 'time every batch this many times (latency statistics over all runs)', in: { eval: ALL } },
  plot: { flag: 'plot', type: 'string', help: 'write an SVG of accuracy vs median latency per batch (marker area = size) to this file', in: { eval: ALL } },
  json: { flag: 'json', type: 'boolean', default: false, help: 'print machine-readable JSON', in: { eval: ALL } },
} as const satisfies Record<string, OptionSpec>;

type Table = typeof OPTIONS;
type ValueOf<S> = S extends { choices: readonly (infer C)[] } ? C
  : S extends { type: 'number' } ? number
  : S extends { type: 'boolean' } ? boolean
  : S extends { type: 'strings' } ? string[]
  : string;
type KeysOf<C extends Command> = { [K in keyof Table]: Table[K]['in'] extends Record<C, CommandUse> ? K : never }[keyof Table];
/** Options a command always has: a default or a demanded flag. */
type RequiredOf<C extends Command> = {
  [K in KeysOf<C>]: Table[K] extends { default: unknown } ? K : Table[K]['in'] extends Record<C, { demand: true }> ? K : never;
}[KeysOf<C>];
type Flatten<T> = { [K in keyof T]: T[K] };

/** What a command reads from its options, as the table declares them. */
export type OptionsOf<C extends Command> = Flatten<
  { [K in RequiredOf<C>]: ValueOf<Table[K]> } & { [K in Exclude<KeysOf<C>, RequiredOf<C>>]?: ValueOf<Table[K]> }
>;

/** Options of a training run. */
export type TrainOptions = OptionsOf<'train'>;
/** What `train()` needs from its caller; TRAIN_DEFAULTS gives the rest. */
export type TrainArgs = Partial<TrainOptions> & Pick<TrainOptions, 'student' | 'trainFile' | 'outputDir'>;

/** The defaults of a command's options. */
export function defaultsOf(command: Command): Record<string, unknown> {
  const defaults: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
    if (!useOf(spec, command) || spec.default === undefined) continue;
    defaults[key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  return defaults;
}

export const TRAIN_DEFAULTS = defaultsOf('train') as Omit<TrainOptions, 'student' | 'trainFile' | 'outputDir'>;

/** The HF `TrainingArguments` name of one of our options, where HF has the option. */
export function hfName(key: string): string | undefined {
  return (OPTIONS as Record<string, OptionSpec>)[key]?.hf;
}

/** The settings of the optimizer's update graph (optim/): SGD's or AdamW's, from the options that carry them. */
export function optimizerSettings(o: {
  optimizer: OptimizerName; momentum: number; dampening: number; nesterov: boolean; weightDecay: number; adamBeta1: number; adamBeta2: number; adamEpsilon: number;
}): Record<string, number | boolean> {
  return o.optimizer === 'sgd'
    ? { momentum: o.momentum, dampening: o.dampening, nesterov: o.nesterov, weightDecay: o.weightDecay }
    : { beta1: o.adamBeta1, beta2: o.adamBeta2, eps: o.adamEpsilon, weightDecay: o.weightDecay };
}

/** What a range takes, in words: 'an integer >= 1', 'a number within [0, 1]', 'a number in [0, 1)'. */
export function describeRange(r: NumberRange): string {
  const kind = r.integer ? 'an integer' : 'a number';
  const low = r.min !== undefined ? { at: r.min, open: false } : r.above !== undefined ? { at: r.above, open: true } : undefined;
  const high = r.max !== undefined ? { at: r.max, open: false } : r.below !== undefined ? { at: r.below, open: true } : undefined;
  if (low && high) return `${kind} in ${low.open ? '(' : '['}${low.at}, ${high.at}${high.open ? ')' : ']'}`;
  if (low) return `${kind} ${low.open ? '>' : '>='} ${low.at}`;
  if (high) return `${kind} ${high.open ? '<' : '<='} ${high.at}`;
  return kind;
}

/** True when `v` is a finite number that `r` allows. */
export function inRange(v: number, r: NumberRange): boolean {
  if (!Number.isFinite(v)) return false;
  if (r.integer && !Number.isSafeInteger(v)) return false;
  if (r.min !== undefined && v < r.min) return false;
  if (r.above !== undefined && v <= r.above) return false;
  if (r.max !== undefined && v > r.max) return false;
  return r.below === undefined || v < r.below;
}

/** `value`, or an InputError naming `--flag` and what it takes; `given` is the text the user typed. */
export function checkNumber(flag: string, value: number, range: NumberRange = {}, given: string = String(value)): number {
  if (inRange(value, range)) return value;
  const hint = range.hint ? ` (${range.hint})` : '';
  throw new InputError(`--${flag} must be ${describeRange(range)}${hint}, got ${given}`);
}

/** Checks every number option of `o`, under the table's names, against the table's ranges (library callers of train() too). */
export function checkOptionValues(o: Record<string, unknown>): void {
  for (const [key, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
    const v = o[key];
    if (spec.type !== 'number' || v === undefined) continue;
    checkNumber(spec.flag ?? key, typeof v === 'number' ? v : NaN, spec.range, String(v));
  }
}

/**
 * Options that are fine one by one but together would train on nothing: --max-steps > 0 overrides --epochs,
 * so epochs matter only without it, and a search over epochs would vary nothing. `searched` holds the
 * `distill search` hyperparameters (their names in --search).
 */
export function checkCombination(o: { epochs?: number; maxSteps?: number }, searched: readonly string[] = []): void {
  const stepsSet = o.maxSteps !== undefined && o.maxSteps > 0;
  if (stepsSet && searched.includes('epochs')) {
    throw new InputError(`--search epochs=...: --max-steps ${o.maxSteps} overrides --epochs, so the trials would all train the same; drop --max-steps or search another hyperparameter`);
  }
  if (!stepsSet && !searched.includes('epochs') && o.epochs !== undefined && o.epochs < 1) {
    throw new InputError(`--epochs ${o.epochs} trains no step: give --epochs 1 or more, or --max-steps N > 0`);
  }
}
