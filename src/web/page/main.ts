/**
 * The demo page `distill web` serves: trains the folder it serves (the demo's artifacts, teacher and
 * SpamAssassin rows) or a dropped artifacts folder, on onnxruntime-web's WASM or WebGPU provider.
 *
 * Query parameters (the tests and scripts/bench/web-bench.mjs drive the page with them): ep=wasm|webgpu,
 * epochs, maxSteps, lr, threads, folder (a served folder), autorun=1 (train on load), eval=0 (skip the
 * evaluations), keep=NAME (copy the folder into OPFS and train from the copy), ort=<file> (another onnxruntime-web build from ort/), stopAt=N (stop after step N, as the Stop button does), resume=1 (continue from the checkpoint). `window.__distill` holds the run's state for them to read.
 */
import { type CheckpointStore, type FileSource, type Ort, type RunResult, type StepInfo, WebTrainer, artifactFiles, copyToOpfs, defaultStore, fileListSource, readWebManifest, urlSource } from '../index.js';
import { drawChart, type ChartData } from './chart.js';

interface PageState {
  status: 'idle' | 'loading' | 'running' | 'done' | 'error';
  ep: string;
  /** Where the folder was read from (the source's description). */
  source: string;
  /** What ORT runs on (the adapter for WebGPU, the thread count for WASM). */
  device: string;
  losses: number[];
  accuracy: { step: number; accuracy: number }[];
  stepsPerSecond: number;
  finalAccuracy: number | null;
  error: string | null;
  seconds: number;
  /** Milliseconds of each optimizer step's train_step calls. */
  stepMs: number[];
  /** WebGPU: the device's limits this library checks (fit.ts, gpu-check.ts). */
  gpuLimits: Record<string, number> | null;
  /** The step the run resumed from (its checkpoint's), or null. */
  resumedFrom: number | null;
  /** Seconds of each stage: open (sessions), tokenize, train, eval, export. */
  timings: Record<string, number>;
}

const state: PageState = { status: 'idle', ep: '', source: '', device: '', losses: [], accuracy: [], stepsPerSecond: 0, finalAccuracy: null, error: null, seconds: 0, stepMs: [], gpuLimits: null, resumedFrom: null, timings: {} };
(globalThis as unknown as { __distill: PageState }).__distill = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const log = (line: string) => {
  $('log').textContent += `${line}\n`;
};

for (const [id, key] of [['ep', 'ep'], ['epochs', 'epochs'], ['maxSteps', 'maxSteps'], ['lr', 'lr']] as const) {
  const v = params.get(key);
  if (v !== null) $<HTMLInputElement>(id).value = v;
}
$<HTMLInputElement>('resume').checked = params.get('resume') === '1';
const stopAt = Number(params.get('stopAt') ?? Infinity);

let dropped: FileSource | null = null;
let stopRequested = false;

/** onnxruntime-web, the bundle for the provider: served beside the page under ort/ (distill web serves it from node_modules). */
async function loadOrt(ep: string): Promise<Ort> {
  // ort=<file> picks another build of the same version (ort.min.mjs: the JSEP WebGPU build).
  const file = params.get('ort') ?? (ep === 'webgpu' ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs');
  const url = new URL(`./ort/${file}`, location.href).href;
  const ort = (await import(/* webpackIgnore: true */ url)) as Ort;
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  // Threads need a cross-origin-isolated page (distill web sends the COOP/COEP headers).
  const threads = Number(params.get('threads') ?? (crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1));
  ort.env.wasm.numThreads = threads;
  return ort;
}

function show(id: string, text: string) {
  $(id).textContent = text;
}

function chartData(totalSteps: number): ChartData {
  return { losses: state.losses.map((loss, i) => ({ step: i + 1, loss })), accuracy: state.accuracy, totalSteps };
}

function offerDownload(bytes: Uint8Array, name: string) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes as unknown as BlobPart]));
  a.download = name;
  a.className = 'dl';
  a.textContent = `download ${name} (${(bytes.length / 1024).toFixed(0)} KB)`;
  $('downloads').append(a);
}

/** The Train form as it stands when a run starts. */
interface RunSettings {
  ep: string;
  epochs: number;
  maxSteps: number;
  learningRate: number;
  /** False with eval=0: the run skips the evaluations (to time training alone). */
  evaluate: boolean;
}

/** Rows as the trainer tokenized them. */
type Examples = Awaited<ReturnType<WebTrainer['examples']>>;

/** Ends a stage: records its seconds in state.timings. */
type StageClock = (name: string) => void;

function readSettings(): RunSettings {
  return {
    ep: $<HTMLSelectElement>('ep').value,
    epochs: Number($<HTMLInputElement>('epochs').value),
    maxSteps: Number($<HTMLInputElement>('maxSteps').value),
    learningRate: Number($<HTMLInputElement>('lr').value),
    evaluate: params.get('eval') !== '0',
  };
}

/** Train is off while a run is in progress, Stop only then. */
function setRunning(running: boolean) {
  $<HTMLButtonElement>('train').disabled = running;
  $<HTMLButtonElement>('stop').disabled = !running;
}

/** Clears what the previous run left: its state, downloads and error. */
function resetRun(ep: string) {
  Object.assign(state, { status: 'loading', ep, losses: [], stepMs: [], accuracy: [], finalAccuracy: null, error: null, timings: {} });
  $('downloads').replaceChildren();
  show('error', '');
  setRunning(true);
  stopRequested = false;
}

/** Each stage's seconds run from the end of the one before (the first stage's from `started`). */
function stageClock(started: number): StageClock {
  let stageStarted = started;
  return (name) => {
    const now = performance.now();
    state.timings[name] = (now - stageStarted) / 1000;
    stageStarted = now;
  };
}

/** The folder to train: a dropped one, else folder=<path> or the demo's folder for the provider. */
async function trainingSource(ep: string): Promise<FileSource> {
  const source = dropped ?? urlSource(params.get('folder') ?? `demo/${ep === 'webgpu' ? 'gpu' : 'cpu'}/`);
  // keep=NAME: the folder is copied into the origin-private file system first, and trained from there.
  const keep = params.get('keep');
  if (keep) return copyToOpfs(source, await artifactFiles(source, await readWebManifest(source)), keep);
  return source;
}

/** Opens the trainer's sessions on the chosen provider, and shows what they run on. */
async function openTrainer(ep: string): Promise<WebTrainer> {
  const ort = await loadOrt(ep);
  const source = await trainingSource(ep);
  state.source = source.description;
  log(`opening ${source.description} on ${ep}`);
  const trainer = await WebTrainer.open({ ort, source, ep: ep === 'webgpu' ? 'webgpu' : 'wasm' });
  state.gpuLimits = trainer.gpu ? { ...trainer.gpu.limits } : null;
  state.device = trainer.gpu ? `WebGPU: ${trainer.gpu.adapterDescription}` : `WASM, ${ort.env.wasm.numThreads} thread(s)`;
  show('s-ep', ep === 'webgpu' ? 'WebGPU' : `WASM x${ort.env.wasm.numThreads}`);
  log(state.device);
  return trainer;
}

/** The training rows, and the eval rows (labeled ones only) when the run evaluates. */
async function tokenize(trainer: WebTrainer, evaluate: boolean): Promise<{ train: Examples; evalSet: Examples }> {
  const train = await trainer.examples('train.jsonl');
  const evalSet = evaluate ? await trainer.examples('eval.jsonl', { allowUnlabeled: false }) : [];
  return { train, evalSet };
}

function showStep(s: StepInfo) {
  show('s-step', `${s.step} / ${s.totalSteps}`);
  // The mean of the last 10 steps, as a logging window: one batch's loss jumps (the last batch of an epoch is short).
  const recent = state.losses.slice(-10);
  show('s-loss', (recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4));
  show('s-speed', s.stepsPerSecond.toFixed(2));
}

/** The trainer's onStep: records the step, updates the stats and the chart, and stops at stopAt. */
function stepHandler(trainer: WebTrainer, evalSet: Examples, evaluate: boolean): (s: StepInfo) => Promise<void> {
  let lastEpoch = 0;
  return async (s) => {
    if (s.step >= stopAt) stopRequested = true;
    state.losses.push(s.loss);
    state.stepMs.push(s.stepMs);
    state.stepsPerSecond = s.stepsPerSecond;
    showStep(s);
    // An evaluation at each epoch's end: the accuracy points of the chart.
    if (evaluate && Math.floor(s.epoch) > lastEpoch && s.step < s.totalSteps) {
      lastEpoch = Math.floor(s.epoch);
      const r = await trainer.evaluate(evalSet);
      state.accuracy.push({ step: s.step, accuracy: r.accuracy });
      log(`epoch ${lastEpoch}: eval accuracy ${(100 * r.accuracy).toFixed(2)}%`);
    }
    if (s.step % 5 === 0 || s.step === s.totalSteps) drawChart($<HTMLCanvasElement>('chart'), chartData(s.totalSteps));
  };
}

/** Trains with live stats, checkpointing every 50 steps into the browser's store (the Resume box continues from there). */
async function trainLive(trainer: WebTrainer, settings: RunSettings, train: Examples, evalSet: Examples): Promise<{ result: RunResult; store: CheckpointStore }> {
  const { epochs, maxSteps, learningRate, evaluate } = settings;
  const store = await defaultStore();
  state.status = 'running';
  const result = await trainer.train(train, {
    epochs, maxSteps, learningRate, store, saveSteps: 50, resume: $<HTMLInputElement>('resume').checked,
    onStep: stepHandler(trainer, evalSet, evaluate), shouldStop: () => stopRequested,
  });
  return { result, store };
}

function reportTraining(result: RunResult, store: CheckpointStore) {
  state.resumedFrom = result.resumedFrom;
  if (result.resumedFrom !== null) log(`resumed from the ${store.kind} checkpoint at step ${result.resumedFrom}`);
  state.stepsPerSecond = result.stepsPerSecond;
  log(`trained ${result.steps} steps in ${result.seconds.toFixed(1)} s (${result.stepsPerSecond.toFixed(2)} steps/s); checkpoint in ${store.kind}`);
}

/** The evaluation after training: the final accuracy, and the chart's last point at the last step. */
async function evaluateTrained(trainer: WebTrainer, evalSet: Examples, steps: number) {
  const r = await trainer.evaluate(evalSet);
  state.finalAccuracy = r.accuracy;
  state.accuracy.push({ step: steps, accuracy: r.accuracy });
  show('s-acc', `${(100 * r.accuracy).toFixed(2)}%`);
  log(`eval accuracy ${(100 * r.accuracy).toFixed(2)}%, macro F1 ${r.f1.toFixed(4)} on ${r.counted} rows`);
}

function showError(e: unknown) {
  state.error = (e as Error).message ?? String(e);
  state.status = 'error';
  show('error', state.error);
  log(`error: ${state.error}`);
}

/** The Train button: open, tokenize, train, evaluate and export, each a stage of state.timings. */
async function run() {
  const settings = readSettings();
  resetRun(settings.ep);
  const started = performance.now();
  const stage = stageClock(started);
  try {
    const trainer = await openTrainer(settings.ep);
    stage('open');
    const { train, evalSet } = await tokenize(trainer, settings.evaluate);
    stage('tokenize');
    log(`${train.length} training rows, ${evalSet.length} eval rows (tokenized in ${state.timings.tokenize!.toFixed(1)} s)`);
    const { result, store } = await trainLive(trainer, settings, train, evalSet);
    stage('train');
    reportTraining(result, store);
    if (settings.evaluate) await evaluateTrained(trainer, evalSet, result.steps);
    stage('eval');
    drawChart($<HTMLCanvasElement>('chart'), chartData(result.steps));
    offerDownload(await trainer.exportModel(), 'model.onnx');
    offerDownload(await trainer.exportSafetensors(), 'model.safetensors');
    stage('export');
    trainer.dispose();
    state.seconds = (performance.now() - started) / 1000;
    state.status = 'done';
  } catch (e) {
    showError(e);
  } finally {
    setRunning(false);
  }
}

/** Every file under a dropped folder entry (drag and drop gives entries, not a FileList with paths). */
async function filesOf(entry: FileSystemEntry, prefix = ''): Promise<File[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [new File([file], `${prefix}${file.name}`)];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const out: File[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const e of batch) out.push(...(await filesOf(e, e.isDirectory ? `${prefix}${e.name}/` : prefix)));
  }
  return out;
}

function useFolder(files: File[], name: string) {
  dropped = fileListSource(files, `dropped folder ${name}/`);
  show('folder', `using ${name} (${files.length} files)`);
}

$('train').addEventListener('click', () => void run());
$('stop').addEventListener('click', () => {
  stopRequested = true;
});
$<HTMLInputElement>('pick').addEventListener('change', (e) => {
  const files = [...((e.target as HTMLInputElement).files ?? [])];
  const first = (files[0] as File & { webkitRelativePath?: string } | undefined)?.webkitRelativePath?.split('/')[0] ?? 'folder';
  useFolder(files, first);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const entry = e.dataTransfer?.items[0]?.webkitGetAsEntry();
  if (!entry) return;
  void filesOf(entry, `${entry.name}/`).then((files) => useFolder(files, entry.name));
});
drawChart($<HTMLCanvasElement>('chart'), chartData(1));
if (params.get('autorun') === '1') void run();
