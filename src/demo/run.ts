/**
 * `distill demo`: the whole pipeline on bundled models and the SpamAssassin corpus. A teacher fine-tuned on
 * the spam task (models/demo/teacher, by scripts/fixtures/make_demo_models.py) is distilled into a randomly
 * initialised student four ways, each evaluated on the same held-out e-mails:
 *   distilled with all labels      vs  the same student trained with cross-entropy only;
 *   distilled with 5% of the labels (the other 95% an unlabeled transfer set, trained by the KD term)
 *                                  vs  cross-entropy only on those 5%, for the same number of steps.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32, shuffleInPlace } from '../data/batches.js';
import { labelSet } from '../data/examples.js';
import { writeSpamSplit } from '../data/spam.js';
import { loadTokenizer } from '../data/tokenize.js';
import { dataBatches } from '../eval/batches.js';
import { evaluate, type EvalReport } from '../eval/evaluator.js';
import { renderPlotSvg } from '../eval/plot.js';
import { readSidecar } from '../export/student.js';
import { quantizeModelFile } from '../quantize/model-file.js';
import type { ExecutionProvider } from '../runtime/session.js';
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
}

export interface DemoRow {
  name: string;
  report: EvalReport;
  trainSeconds?: number;
}

export interface DemoResult {
  rows: DemoRow[];
  trainRows: number;
  evalRows: number;
  labeledRows: number;
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

export async function runDemo(options: DemoOptions, cb: TrainCallbacks & { onStage?(name: string): void } = {}): Promise<DemoResult> {
  const started = performance.now();
  const models = bundledModels();
  const teacher = path.join(models, 'demo', 'teacher', 'model.onnx');
  const student = path.join(models, 'demo', 'student', 'model.onnx');
  const epochs = options.epochs ?? 2;
  const seed = options.seed ?? 42;
  const dataDir = path.join(options.outputDir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  cb.onStage?.('splitting the SpamAssassin corpus (models/demo/split.json)');
  const split = writeSpamSplit(dataDir, { splitFile: path.join(models, 'demo', 'split.json') });
  const few = fewLabels(split.train, options.labeledFraction ?? 0.05, seed, dataDir);

  const sidecar = readSidecar(student)!;
  const tokenizer = loadTokenizer(path.join(models, 'demo', 'student', 'tokenizer.json'), sidecar.vocab_size);
  const source = dataBatches({ task: 'seq-cls', tokenizer, labels: labelSet(sidecar), batchSize: 32, maxLength: 128, padId: sidecar.pad_token_id ?? 0 });
  const evalModel = (model: string) => evaluate({ model, task: 'seq-cls', batches: source(split.eval), ep: options.ep, threads: options.threads });

  const rows: DemoRow[] = [];
  cb.onStage?.('evaluating the teacher');
  rows.push({ name: 'teacher (fine-tuned, 2 layers x 96)', report: await evalModel(teacher) });

  // Each trained student is evaluated below by the same evaluator as the teacher, so the runs need no eval file.
  const common = {
    student, epochs, batchSize: 32, learningRate: 1e-3, seed, threads: options.threads, ep: options.ep,
    loggingSteps: 50, teacherCache: path.join(options.outputDir, 'teacher-cache'),
    // Running the demo again replaces its previous students.
    overwriteOutputDir: true,
  };
  const runs: { name: string; dir: string; teacher?: string; trainFile: string; maxSteps?: number }[] = [
    { name: 'student, distilled (all labels)', dir: 'distilled-all', teacher, trainFile: split.train },
    { name: 'student, CE only (all labels)', dir: 'ce-all', trainFile: split.train },
    { name: `student, distilled (${few.labeled} labels + unlabeled rest)`, dir: 'distilled-few', teacher, trainFile: few.transfer },
    { name: `student, CE only (${few.labeled} labels, same steps)`, dir: 'ce-few', trainFile: few.labeledOnly },
  ];
  let stepsOfDistilledFew = 0;
  for (const run of runs) {
    cb.onStage?.(`training: ${run.name}`);
    const maxSteps = run.dir === 'ce-few' ? stepsOfDistilledFew : options.maxSteps;
    const r = await train({ ...common, teacher: run.teacher, trainFile: run.trainFile, outputDir: path.join(options.outputDir, run.dir), ...(maxSteps ? { maxSteps } : {}) }, cb);
    if (run.dir === 'distilled-few') stepsOfDistilledFew = r.globalStep;
    rows.push({ name: run.name, report: await evalModel(path.join(options.outputDir, run.dir, 'model.onnx')), trainSeconds: r.trainRuntime });
  }
  // The last step of the book's pipeline: the distilled student with int8 weights and embeddings.
  cb.onStage?.('quantizing the distilled student (int8)');
  const quantized = quantizeModelFile({ model: path.join(options.outputDir, 'distilled-all', 'model.onnx'), outDir: path.join(options.outputDir, 'distilled-all'), embeddings: true });
  rows.push({ name: 'student, distilled (all labels), int8', report: await evalModel(quantized.model) });
  // The plot compares the four models the book does: teacher, CE-only, distilled, quantized (all labels).
  const plotted = rows.filter((r) => !r.name.includes(`(${few.labeled} labels`));
  writeFileAtomic(
    path.join(options.outputDir, 'benchmark.svg'),
    renderPlotSvg(plotted.map((r) => ({ label: r.name, latencyMs: r.report.latency.p50Ms, accuracy: r.report.metrics.accuracy!, bytes: r.report.size.bytes }))),
  );
  const result: DemoResult = {
    rows,
    trainRows: split.counts.train,
    evalRows: split.counts.eval,
    labeledRows: few.labeled,
    seconds: (performance.now() - started) / 1000,
  };
  writeFileAtomic(path.join(options.outputDir, 'demo_results.json'), `${JSON.stringify(result, (k, v) => (k === 'files' ? undefined : v), 2)}\n`);
  return result;
}
