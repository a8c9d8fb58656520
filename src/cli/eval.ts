/**
 * `distill eval --model M.onnx [--model M2.onnx ...] --eval-file F`: the comparison NLP with Transformers
 * draws between teacher and student: the task metric (accuracy and macro-F1, or perplexity), latency per
 * batch and model size, one row per model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { labelSet, type Task } from '../data/examples.js';
import { loadTokenizer } from '../data/tokenize.js';
import { InputError } from '../errors.js';
import { dataBatches, type EvalBatch } from '../eval/batches.js';
import { type EvalReport, type ModelSize, evaluate, modelSize } from '../eval/evaluator.js';
import { maxTokens, studentMetadata } from '../params/student.js';
import { checkDynamicTokenAxes } from '../onnx/fixed-axes.js';
import { graphInputNames, loadModel } from '../onnx/model-io.js';
import { checkFeedableInputs } from '../data/batches.js';
import { renderPlotSvg } from '../eval/plot.js';
import { formatBytes, formatCount } from '../util/format.js';
import { writeFileAtomic } from '../util/fs.js';
import type { OptionsOf } from '../train/options.js';
import { addOptions, readOptions } from './options.js';

/** The options of `distill eval` (the option table's, src/train/options.ts). */
export type EvalCommandOptions = Pick<OptionsOf<'eval'>, 'models' | 'evalFile' | 'tokenizer' | 'task' | 'batchSize' | 'maxLength' | 'textField' | 'labelField' | 'ep' | 'threads'> &
  Partial<Pick<OptionsOf<'eval'>, 'repeats'>>;

/** What evaluating one model needs: its task, logits output, and the eval file's batches as its tokenizer makes them. */
export interface ModelEvalData {
  task: Task;
  logits: string;
  batches: AsyncIterable<EvalBatch>;
  /** The most tokens a row keeps: --max-length, or less where the model's position table is shorter. */
  maxLength: number;
  /** Its size, read while checking the file (modelSize). */
  size: ModelSize;
  /** A note for the user (the rows are cut shorter than --max-length asked), or undefined. */
  note?: string;
}

/** One model's report and the row length it was evaluated at. */
export type ModelReport = EvalReport & { maxLength: number };

/**
 * The task, tokenizer and label names of `model`, as train reads them (the sidecar, else config.json beside
 * the model or one folder up: a save_pretrained folder with a torch.onnx.export file, optimum's onnx/ layout),
 * and the eval file's batches. `task` is the task the models before it have (all must agree).
 */
export function modelEvalData(model: string, o: Omit<EvalCommandOptions, 'models'>, task?: Task): ModelEvalData {
  if (!fs.existsSync(model)) throw new InputError(`${model}: ONNX model does not exist`);
  // The file itself first (not ONNX, truncated, external data missing or short), as train and inspect check
  // it: otherwise a missing config would be reported instead, or ORT's own multi-line error.
  const loaded = loadModel(model);
  const size = modelSize(model, loaded);
  checkDynamicTokenAxes(loaded.model, model);
  checkFeedableInputs(model, graphInputNames(loaded.model));
  const { sidecar: side, hf } = studentMetadata(model);
  const modelTask = o.task ?? side.task;
  if (!modelTask) throw new InputError(`${model}: no task given, and no config.json 'architectures' or distill.json sidecar names one; pass --task seq-cls|token-cls|causal-lm`);
  if (task && modelTask !== task) throw new InputError(`${model}: task ${modelTask}, but the models before it are ${task}; compare models of one task (or pass --task)`);
  const tokFile = o.tokenizer ?? [path.dirname(model), hf.dir].map((d) => path.join(d, 'tokenizer.json')).find((f) => fs.existsSync(f)) ?? '';
  const tokenizer = fs.existsSync(tokFile) ? loadTokenizer(tokFile, side.vocab_size) : undefined;
  const labels = modelTask === 'causal-lm' ? undefined : labelSet(side, undefined, hf.configFile ?? model);
  const positions = maxTokens(side);
  const maxLength = positions !== undefined ? Math.min(o.maxLength, positions) : o.maxLength;
  // As train says it: rows are silently shorter than asked otherwise, and the metric is over shorter rows.
  const note = maxLength < o.maxLength
    ? `${model}: rows are truncated to ${maxLength} tokens, the model's position table (max_position_embeddings), not --max-length ${o.maxLength}`
    : undefined;
  const source = dataBatches({
    task: modelTask, tokenizer, labels, batchSize: o.batchSize, maxLength, textField: o.textField, labelField: o.labelField,
    padId: side.pad_token_id ?? 0, vocabSize: side.vocab_size,
  });
  return { task: modelTask, logits: side.logits ?? 'logits', batches: source(o.evalFile), maxLength, size, ...(note ? { note } : {}) };
}

/** Evaluates every model on the data file, each with its own tokenizer and label names; `onInfo` gets the notes. */
export async function runEval(o: EvalCommandOptions, onInfo: (message: string) => void = () => {}): Promise<ModelReport[]> {
  if (!fs.existsSync(o.evalFile)) throw new InputError(`${o.evalFile}: no such file`);
  const reports: ModelReport[] = [];
  let task: Task | undefined = o.task;
  for (const model of o.models) {
    const data = modelEvalData(model, o, task);
    task = data.task;
    if (data.note) onInfo(data.note);
    const report = await evaluate({ model, task, batches: data.batches, ep: o.ep, logits: data.logits, repeats: o.repeats, threads: o.threads, size: data.size });
    reports.push({ ...report, maxLength: data.maxLength });
  }
  return reports;
}

/**
 * Refuses a --plot path the plot cannot be written as: it is SVG (renderPlotSvg), and SVG bytes in a .png
 * or .jpg file open as a broken image. Checked before any model runs.
 */
export function checkPlotPath(file: string): void {
  if (path.extname(file).toLowerCase() !== '.svg') {
    throw new InputError(`--plot ${file}: the plot is written as SVG; give a path ending in .svg (e.g. ${plotSvgName(file)})`);
  }
}

const plotSvgName = (file: string) => path.join(path.dirname(file), `${path.basename(file, path.extname(file))}.svg`);

const fixed = (v: number | undefined, digits: number) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));

/** The comparison table (and, for several models, each one relative to the first). */
export function renderEvalTable(reports: readonly EvalReport[], o: { evalFile: string; batchSize: number }): string {
  const lm = reports[0]!.task === 'causal-lm';
  const header = ['model', ...(lm ? ['perplexity', 'loss'] : ['accuracy', 'macro-F1']), 'latency mean', 'p50', 'p95', 'size', 'parameters', 'per example p50', 'p95'];
  const rows = reports.map((r) => [
    r.model,
    ...(lm ? [fixed(r.metrics.perplexity, 2), fixed(r.metrics.loss, 4)] : [fixed(r.metrics.accuracy, 4), fixed(r.metrics.f1, 4)]),
    `${fixed(r.latency.meanMs, 2)} ms`,
    `${fixed(r.latency.p50Ms, 2)} ms`,
    `${fixed(r.latency.p95Ms, 2)} ms`,
    formatBytes(r.size.bytes),
    formatCount(r.size.parameters),
    `${fixed(r.latency.perExample.p50Ms, 3)} ms`,
    `${fixed(r.latency.perExample.p95Ms, 3)} ms`,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((s, c) => (c === 0 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join('  ').trimEnd();
  const r0 = reports[0]!;
  const what = lm ? `${formatCount(r0.metrics.counted)} predicted tokens` : `${formatCount(r0.metrics.counted)} labeled ${r0.task === 'seq-cls' ? 'examples' : 'tokens'}`;
  const lines = [
    `${o.evalFile}: ${formatCount(r0.examples)} examples (${what}), task ${r0.task}; latency per batch of up to ${o.batchSize} on ${r0.latency.ep} (${r0.latency.batches} batches${r0.latency.runs > r0.latency.batches ? `, each run ${r0.latency.runs / r0.latency.batches} times` : ''}, after 1 warm-up)`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  if (reports.length > 1) {
    lines.push('', `relative to ${r0.model}:`);
    for (const r of reports.slice(1)) {
      const signed = (d: number, digits: number) => `${d >= 0 ? '+' : ''}${fixed(d, digits)}`;
      const delta = lm
        ? `perplexity ${signed(r.metrics.perplexity! - r0.metrics.perplexity!, 2)}`
        : `accuracy ${signed(r.metrics.accuracy! - r0.metrics.accuracy!, 4)}, macro-F1 ${signed(r.metrics.f1! - r0.metrics.f1!, 4)}`;
      lines.push(`  ${r.model}: speed-up ${fixed(r0.latency.meanMs / r.latency.meanMs, 2)}x (mean latency), size ${fixed(r.size.bytes / r0.size.bytes, 2)}x, ${delta}`);
    }
  }
  return lines.join('\n');
}

export function register(cli: Argv): Argv {
  return cli.command(
    'eval',
    'Evaluate models on a labeled data file: accuracy / macro-F1 or perplexity, latency per batch, size',
    (y) => addOptions(y, 'eval'),
    async (args) => {
      const o = readOptions(args, 'eval');
      if (o.plot) checkPlotPath(o.plot);
      const reports = await runEval(o, (m) => process.stderr.write(`${m}\n`));
      // The row length used, not the one asked for: each result has its own (a model's position table may cut
      // it), and the top level is the longest any model read (all of them, when they agree).
      const maxLength = Math.max(...reports.map((r) => r.maxLength));
      const json = { evalFile: o.evalFile, task: reports[0]!.task, batchSize: o.batchSize, maxLength, ep: o.ep, results: reports };
      if (o.plot) {
        if (reports[0]!.task === 'causal-lm') throw new InputError('--plot draws accuracy; causal-lm models have perplexity instead');
        const points = reports.map((r) => ({ label: path.basename(path.dirname(r.model)) + '/' + path.basename(r.model), latencyMs: r.latency.p50Ms, accuracy: r.metrics.accuracy!, bytes: r.size.bytes }));
        writeFileAtomic(o.plot, renderPlotSvg(points));
      }
      process.stdout.write(o.json ? `${JSON.stringify(json, null, 2)}\n` : `${renderEvalTable(reports, o)}\n`);
    },
  );
}
