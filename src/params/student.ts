/**
 * A student as the rest of the project sees it: its graph with one initializer per PyTorch parameter
 * (discover.ts), and a sidecar describing it (task, labels, padding id, and the parameter map with HF names,
 * weight-decay groups and padding rows). The builder trains that graph; the exporters read that sidecar.
 *
 * Everything here comes, in this order, from the student's own `distill.json` sidecar (a lossless export),
 * the Hugging Face files beside it (config.json, model.safetensors; or `--hf-model DIR`), and the graph.
 */
import { InputError } from '../errors.js';
import { type Sidecar, readSidecar, sidecarPath } from '../export/student.js';
import { type Model, modelFromProto, modelToProto } from '../ir/convert.js';
import { inferTypes } from '../ir/infer.js';
import type { Task } from '../losses/distill.js';
import { loadModel, saveModel } from '../onnx/model-io.js';
import { toNumber } from '../onnx/proto.js';
import { writeFileAtomic } from '../util/fs.js';
import { discoverParameters } from './discover.js';
import { checkDynamicTokenAxes } from '../onnx/fixed-axes.js';
import { type HfConfig, type HfFiles, configPadId, findHfFiles, positionTable } from './hf-files.js';
import type { ParameterPlan } from './plan.js';

/** The sidecar of a prepared student: format 1 (docs/FIXTURES.md) plus the plan's training facts. */
export interface StudentSidecar extends Sidecar {
  /** Where the parameter set came from ('sidecar', 'hf-files', 'heuristics'). */
  parameter_source?: ParameterPlan['source'];
  /** Initializers HF's Trainer gives no weight decay (biases, normalization weights). */
  no_decay?: string[];
  /** Embedding initializers and the row PyTorch never updates (nn.Embedding padding_idx). */
  padding_rows?: Record<string, number>;
}

export interface StudentOptions {
  /** A Hugging Face model folder with config.json / model.safetensors (default: beside the ONNX file). */
  hfModel?: string;
  /** Globs of initializers to train although they look like constants. */
  trainable?: readonly string[];
  /** Name of the logits output (default: the sidecar's, else 'logits'). */
  logits?: string;
}

export interface PreparedStudent {
  /** The student's file as given. */
  file: string;
  model: Model;
  plan: ParameterPlan;
  sidecar: StudentSidecar;
  hf: HfFiles;
}

export { maxTokens } from './positions.js';

/** The task an HF architecture name implies ('BertForSequenceClassification' -> seq-cls). */
export function taskOfArchitecture(arch: string | undefined): Task | undefined {
  if (!arch) return undefined;
  if (/ForSequenceClassification$/.test(arch)) return 'seq-cls';
  if (/ForTokenClassification$/.test(arch)) return 'token-cls';
  if (/(ForCausalLM|LMHeadModel)$/.test(arch)) return 'causal-lm';
  return undefined;
}

/** The static last dimension an output declares (the class count when nothing else says), without loading weights. */
export function declaredOutputWidth(file: string, output: string): number | undefined {
  const out = loadModel(file, { loadExternalData: false }).model.graph!.output.find((o) => o.name === output);
  const dims = out?.type?.tensorType?.shape?.dim;
  const last = dims?.[dims.length - 1];
  return last?.dimValue !== undefined && last.dimValue !== null && !last.dimParam ? toNumber(last.dimValue) : undefined;
}

/** The static last dimension of the logits (the class count or vocabulary size), when inference finds it. */
export function logitsWidth(model: Model, logits: string): number | undefined {
  const d = logitsShape(model, logits)?.at(-1);
  return typeof d === 'number' ? d : undefined;
}

/** The logits' inferred shape (its rank tells the task: [batch, classes] or [batch, sequence, classes]). */
export function logitsShape(model: Model, logits: string): readonly (number | string | null)[] | undefined {
  inferTypes(model.graph, model.opset('')!);
  return model.graph.outputs.find((o) => o.name === logits)?.type.shape ?? undefined;
}

/** The logits' rank for a task: one row per example for a sequence classifier, one per token otherwise. */
export const logitsRank = (task: Task): number => (task === 'seq-cls' ? 2 : 3);

function labelsFromConfig(config: HfConfig | null): Pick<Sidecar, 'id2label' | 'num_labels'> {
  if (!config) return {};
  const id2label = config.id2label && typeof config.id2label === 'object' ? config.id2label : undefined;
  const n = typeof config.num_labels === 'number' ? config.num_labels : id2label ? Object.keys(id2label).length : undefined;
  return { ...(id2label ? { id2label } : {}), ...(n !== undefined ? { num_labels: n } : {}) };
}

/**
 * What the student's own files say about it, without touching its graph: its sidecar when it has one,
 * completed from config.json (labels, padding id, task from `architectures`, vocabulary size).
 */
export function studentMetadata(file: string, options: StudentOptions & { weights?: boolean } = {}): { sidecar: Partial<StudentSidecar>; hf: HfFiles } {
  const own = readSidecar(file);
  const hf = findHfFiles(file, options.hfModel, { weights: options.weights ?? false });
  const c = hf.config;
  const fromConfig: Partial<StudentSidecar> = {
    ...(c?.architectures?.[0] ? { architecture: c.architectures[0] } : {}),
    ...(c?.model_type ? { model_type: c.model_type } : {}),
    ...(taskOfArchitecture(c?.architectures?.[0]) ? { task: taskOfArchitecture(c?.architectures?.[0]) } : {}),
    ...labelsFromConfig(c),
    ...(typeof c?.vocab_size === 'number' ? { vocab_size: c.vocab_size } : {}),
    ...(positionTable(c) !== undefined ? { max_position_embeddings: positionTable(c) } : {}),
    ...(configPadId(c) !== null ? { pad_token_id: configPadId(c) } : {}),
  };
  // The sidecar of a lossless export was written from the same config: it wins where both speak.
  const merged: Partial<StudentSidecar> = { ...fromConfig, ...(own ?? {}) };
  if (own && own.id2label == null && fromConfig.id2label) merged.id2label = fromConfig.id2label;
  // Integer labels need no names: the logits' width is the class count.
  if (merged.num_labels == null && merged.id2label == null && merged.task !== 'causal-lm') {
    const width = declaredOutputWidth(file, options.logits ?? merged.logits ?? 'logits');
    if (width !== undefined) merged.num_labels = width;
  }
  return { sidecar: merged, hf };
}

/** Ops of an int8 model (distill quantize, onnxruntime's quantizers): its weights are no longer float parameters. */
const QUANTIZED_OPS = new Set(['MatMulInteger', 'DynamicQuantizeLinear', 'DequantizeLinear', 'QLinearMatMul', 'ConvInteger', 'QLinearConv']);

function checkNotQuantized(model: Model, file: string, sidecar: Sidecar | null): void {
  const op = model.graph.nodes.find((n) => QUANTIZED_OPS.has(n.opType))?.opType;
  if (op === undefined) return;
  const source = (sidecar as { quantization?: { source?: string } } | null)?.quantization?.source;
  throw new InputError(`${file}: a quantized model (its graph has ${op} nodes); train the float32 model it came from${source ? ` (${source})` : ''} and quantize the result`);
}

/** Loads the student and rewrites it so that each parameter is one initializer (see discover.ts). */
export function prepareStudent(file: string, options: StudentOptions = {}): PreparedStudent {
  const proto = loadModel(file).model;
  checkDynamicTokenAxes(proto, file);
  const model = modelFromProto(proto);
  if (model.opset('') === undefined) throw new InputError(`${file}: the model imports no ai.onnx opset`);
  const own = readSidecar(file);
  checkNotQuantized(model, file, own);
  // A lossless export's sidecar is the plan: its model.safetensors need not be read.
  const { sidecar: meta, hf } = studentMetadata(file, { ...options, weights: own === null });
  const plan = discoverParameters(model, {
    file,
    hf,
    sidecar: own,
    trainable: options.trainable,
    // The trainer pads with 0 when nothing names a padding id; a zero row there is nn.Embedding's padding_idx.
    padId: meta.pad_token_id ?? 0,
  });
  const logits = options.logits ?? meta.logits ?? 'logits';
  // The declared width already gave num_labels where the file states it; inference only for the rest.
  const width = meta.num_labels == null && meta.task !== 'causal-lm' ? logitsWidth(model, logits) : undefined;
  const sidecar: StudentSidecar = {
    ...meta,
    format: 1,
    logits,
    ...(width !== undefined ? { num_labels: width } : {}),
    parameters: Object.fromEntries(plan.parameters.map((p) => [p.initializer, { name: p.hfName ?? p.initializer, transpose: p.transpose }])),
    parameter_source: plan.source,
    no_decay: plan.parameters.filter((p) => !p.decay).map((p) => p.initializer),
    padding_rows: Object.fromEntries(plan.parameters.filter((p) => p.paddingRow !== null).map((p) => [p.initializer, p.paddingRow!])),
  };
  // HF's save_pretrained writes a tied group under one name and from_pretrained re-ties the rest; a merged
  // group from a lossless export keeps its list.
  if (own?.tied) sidecar.tied = own.tied;
  else delete sidecar.tied;
  return { file, model, plan, sidecar, hf };
}

/** Writes the prepared graph to `file` and its sidecar beside it (X.onnx -> X.distill.json). */
export function savePreparedStudent(student: PreparedStudent, file: string): void {
  saveModel(modelToProto(student.model), file, { externalData: { threshold: 1 << 20 } });
  writeFileAtomic(sidecarPath(file), `${JSON.stringify(student.sidecar, null, 2)}\n`);
}
