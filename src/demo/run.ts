/**
 * `distill demo`: the whole pipeline on bundled models and the SpamAssassin corpus. A teacher fine-tuned on
 * the spam task (models/demo/teacher, by scripts/fixtures/make_demo_models.py) is distilled into a randomly
 * initialised student four ways, each evaluated on the same held-out e-mails:
 *   distilled with all labels      vs  the same student trained with cross-entropy only;
 *   distilled with 5% of the labels (the other 95% an unlabeled transfer set, trained by the KD term)
 *                                  vs  cross-entropy only on those 5%, for the same number of steps.
 * Then the rest of the book's pipeline: a short alpha/temperature search (src/search/; the best trial is a
 * row of its own) and the distilled student quantized to int8, with accuracy against latency drawn.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32, shuffleInPlace } from '../data/batches.js';
import { labelSet } from '../data/examples.js';
import { writeSpamSplit } from '../data/spam.js';
import { loadTokenizer } from '../data/tokenize.js';
import { type EvalBatch, dataBatches } from '../eval/batches.js';
import { evaluate, type EvalReport } from '../eval/evaluator.js';
import { renderPlotSvg } from '../eval/plot.js';
import { readSidecar } from '../export/student.js';
import { quantizeModelFile } from '../quantize/model-file.js';
import type { ExecutionProvider } from '../runtime/session.js';
import { search } from '../search/search.js';
import { parseSpace } from '../search/space.js';
import type { TrainArgs } from '../train/options.js';
import { train, type TrainCallbacks } from '../train/trainer.js';
import { writeFileAtomic } from '../util/fs.js';

/** models/ of this package (works from src/ and from dist/src/). */
export function bundledModels(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'models', 'demo'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('models/demo not found next to the package');
    dir = up;
  }
  return path.join(dir, 'models');
}

export interface DemoOptions {
  outputDir: string;
  epochs?: number;
  /** Share of training rows that keep their label in the few-label runs (default 0.05). */
  labeledFraction?: number;
  ep?: ExecutionProvider;
  threads?: number;
  seed?: number;
  /** Cap every run at this many optimizer steps (a quick check of the pipeline; default: full epochs). */
  maxSteps?: number;
  /** Trials of the alpha/temperature search (default 4; 0 skips it). */
  searchTrials?: number;
}

/**
 * The search space of the demo's few trials: where the 20-trial search of docs/COMPRESSION.md found its
 * best students (alpha 0.66-1, T 4-10), with room on both sides; the learning rate stays the demo's.
 */
export const DEMO_SEARCH_SPACE = ['alpha=0.5:1', 'temperature=2:10:log'];

/** Timed runs of every eval batch per model (the table's latencies are medians over them). */
const EVAL_REPEATS = 3;

export type DemoRowKey = 'teacher' | 'distilled-all' | 'ce-all' | 'distilled-few' | 'ce-few' | 'searched' | 'int8';

export interface DemoRow {
  key: DemoRowKey;
  name: string;
  report: EvalReport;
  trainSeconds?: number;
}

export interface DemoResult {
  rows: DemoRow[];
  trainRows: number;
  evalRows: number;
  labeledRows: number;
  /** The search's folder (search_results.json, trial-N/, best/), when it ran. */
  searchDir?: string;
  seconds: number;
}

/** Keeps the label of a seeded, stratified `fraction` of the rows; writes the rest without one. */
function fewLabels(trainFile: string, fraction: number, seed: number, dir: string) {
  const rows = fs.readFileSync(trainFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string; label: number });
  const keep = new Set<number>();
  for (const label of [0, 1]) {
    const idx = rows.map((r, i) => (r.label === label ? i : -1)).filter((i) => i >= 0);
    shuffleInPlace(idx, mulberry32(seed + label));
    idx.slice(0, Math.max(1, Math.round(idx.length * fraction))).forEach((i) => keep.add(i));
  }
  const transfer = path.join(dir, 'train-few-labels.jsonl');
  const labeledOnly = path.join(dir, 'train-labeled-only.jsonl');
  writeFileAtomic(transfer, rows.map((r, i) => JSON.stringify(keep.has(i) ? r : { text: r.text })).join('\n') + '\n');
  writeFileAtomic(labeledOnly, rows.filter((_, i) => keep.has(i)).map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { transfer, labeledOnly, labeled: keep.size };
}

type DemoCallbacks = TrainCallbacks & { onStage?(name: string): void };

/** A model of the table, before its evaluation. */
interface Contender {
  key: DemoRowKey;
  name: string;
  file: string;
  trainSeconds?: number;
}

/** What every stage of the demo reads: its options, files and the settings all its training runs share. */
interface DemoContext {
  options: DemoOptions;
  cb: DemoCallbacks;
  teacher: string;
  split: ReturnType<typeof writeSpamSplit>;
  few: ReturnType<typeof fewLabels>;
  /** train()'s options common to every run; the trained students are evaluated at the end, so no eval file. */
  common: Omit<TrainArgs, 'trainFile' | 'outputDir'>;
}

export async function runDemo(options: DemoOptions, cb: DemoCallbacks = {}): Promise<DemoResult> {
  const started = performance.now();
  const models = bundledModels();
  const teacher = path.join(models, 'demo', 'teacher', 'model.onnx');
  const student = path.join(models, 'demo', 'student', 'model.onnx');
  const seed = options.seed ?? 42;
  const dataDir = path.join(options.outputDir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  cb.onStage?.('splitting the SpamAssassin corpus (models/demo/split.json)');
  const split = writeSpamSplit(dataDir, { splitFile: path.join(models, 'demo', 'split.json') });
  const few = fewLabels(split.train, options.labeledFraction ?? 0.05, seed, dataDir);
  const common = {
    student, epochs: options.epochs ?? 2, batchSize: 32, learningRate: 1e-3, seed, threads: options.threads, ep: options.ep,
    loggingSteps: 50, teacherCache: path.join(options.outputDir, 'teacher-cache'),
    // Running the demo again replaces its previous students.
    overwriteOutputDir: true,
  };
  const ctx: DemoContext = { options, cb, teacher, split, few, common };

  // Every model is trained first and evaluated at the end, one after another on the same batches, so that
  // their latencies compare (a model timed right after a training run measured up to 1.5x slower).
  const contenders: Contender[] = [{ key: 'teacher', name: 'teacher (fine-tuned, 2 layers x 96)', file: teacher }];
  contenders.push(...(await trainStudents(ctx)));
  const searched = await searchAlphaTemperature(ctx);
  if (searched) contenders.push(searched);
  // The last step of the book's pipeline: the distilled student with int8 weights and embeddings.
  cb.onStage?.('quantizing the distilled student (int8)');
  const quantized = quantizeModelFile({ model: path.join(options.outputDir, 'distilled-all', 'model.onnx'), outDir: path.join(options.outputDir, 'distilled-all'), embeddings: true });
  contenders.push({ key: 'int8', name: 'student, distilled (all labels), int8', file: quantized.model });

  const rows = await evaluateAll(ctx, contenders, student);
  // The plot compares the models the book does: teacher, CE-only, distilled (default and searched), quantized.
  const plotted = rows.filter((r) => r.key !== 'distilled-few' && r.key !== 'ce-few');
  writeFileAtomic(
    path.join(options.outputDir, 'benchmark.svg'),
    renderPlotSvg(plotted.map((r) => ({ label: r.name, latencyMs: r.report.latency.p50Ms, accuracy: r.report.metrics.accuracy!, bytes: r.report.size.bytes }))),
  );
  const result: DemoResult = {
    rows,
    trainRows: split.counts.train,
    evalRows: split.counts.eval,
    labeledRows: few.labeled,
    ...(searched ? { searchDir: searchFolder(options) } : {}),
    seconds: (performance.now() - started) / 1000,
  };
  writeFileAtomic(path.join(options.outputDir, 'demo_results.json'), `${JSON.stringify(result, (k, v) => (k === 'files' ? undefined : v), 2)}\n`);
  return result;
}

/** The four students: distilled and CE-only, with all labels and with the few-label share. */
async function trainStudents({ options, cb, teacher, split, few, common }: DemoContext): Promise<Contender[]> {
  const runs: { name: string; dir: DemoRowKey; teacher?: string; trainFile: string }[] = [
    { name: 'student, distilled (all labels)', dir: 'distilled-all', teacher, trainFile: split.train },
    { name: 'student, CE only (all labels)', dir: 'ce-all', trainFile: split.train },
    { name: `student, distilled (${few.labeled} labels + unlabeled rest)`, dir: 'distilled-few', teacher, trainFile: few.transfer },
    { name: `student, CE only (${few.labeled} labels, same steps)`, dir: 'ce-few', trainFile: few.labeledOnly },
  ];
  const trained: Contender[] = [];
  // The few-label CE run gets as many steps as the few-label distillation, whose transfer set is 20x larger.
  let stepsOfDistilledFew = 0;
  for (const run of runs) {
    cb.onStage?.(`training: ${run.name}`);
    const maxSteps = run.dir === 'ce-few' ? stepsOfDistilledFew : options.maxSteps;
    const r = await train({ ...common, teacher: run.teacher, trainFile: run.trainFile, outputDir: path.join(options.outputDir, run.dir), ...(maxSteps ? { maxSteps } : {}) }, cb);
    if (run.dir === 'distilled-few') stepsOfDistilledFew = r.globalStep;
    trained.push({ key: run.dir, name: run.name, file: path.join(options.outputDir, run.dir, 'model.onnx'), trainSeconds: r.trainRuntime });
  }
  return trained;
}

const searchFolder = (options: DemoOptions) => path.join(options.outputDir, 'search');

/** The search's best student (all labels), or undefined when no trial ran or completed. */
async function searchAlphaTemperature({ options, cb, teacher, split, common }: DemoContext): Promise<Contender | undefined> {
  const trials = options.searchTrials ?? 4;
  if (trials <= 0) return undefined;
  cb.onStage?.(`searching alpha and temperature (${trials} trials, ${DEMO_SEARCH_SPACE.join(', ')})`);
  const dir = searchFolder(options);
  // A new search each time, as the other runs are retrained: an earlier demo's trials may have had other epochs.
  fs.rmSync(dir, { recursive: true, force: true });
  const found = await search(
    {
      base: { ...common, teacher, trainFile: split.train, evalFile: split.eval, outputDir: dir, loggingSteps: 1e9, ...(options.maxSteps ? { maxSteps: options.maxSteps } : {}) },
      space: parseSpace(DEMO_SEARCH_SPACE), trials, seed: common.seed,
    },
    { train: { onProgress: cb.onProgress } },
  );
  const best = found.best_trial === null ? undefined : found.trials[found.best_trial]!;
  if (!best) return undefined;
  return {
    key: 'searched', name: `student, distilled, best of ${trials} searched (alpha ${best.params.alpha!.toFixed(2)}, T ${best.params.temperature!.toFixed(1)})`,
    file: path.join(dir, 'best', 'model.onnx'), trainSeconds: found.trials.reduce((sum, t) => sum + t.seconds, 0),
  };
}

/** Every model on the held-out e-mails, tokenized once, each batch timed EVAL_REPEATS times. */
async function evaluateAll({ options, cb, split }: DemoContext, contenders: readonly Contender[], student: string): Promise<DemoRow[]> {
  cb.onStage?.(`evaluating ${contenders.length} models on ${split.counts.eval} held-out e-mails (every batch timed ${EVAL_REPEATS} times)`);
  const sidecar = readSidecar(student)!;
  const tokenizer = loadTokenizer(path.join(path.dirname(student), 'tokenizer.json'), sidecar.vocab_size);
  const source = dataBatches({ task: 'seq-cls', tokenizer, labels: labelSet(sidecar), batchSize: 32, maxLength: 128, padId: sidecar.pad_token_id ?? 0 });
  const batches: EvalBatch[] = [];
  for await (const b of source(split.eval)) batches.push(b);
  const rows: DemoRow[] = [];
  for (const m of contenders) {
    const report = await evaluate({ model: m.file, task: 'seq-cls', batches, ep: options.ep, threads: options.threads, repeats: EVAL_REPEATS });
    rows.push({ key: m.key, name: m.name, report, ...(m.trainSeconds === undefined ? {} : { trainSeconds: m.trainSeconds }) });
  }
  return rows;
}
