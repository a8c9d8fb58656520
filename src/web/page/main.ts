/**
 * The demo page `distill web` serves: trains the folder it serves (the demo's artifacts, teacher and
 * SpamAssassin rows) or a dropped artifacts folder, on onnxruntime-web's WASM or WebGPU provider.
 *
 * Query parameters (the tests and scripts/bench/web-bench.mjs drive the page with them): ep=wasm|webgpu,
 * epochs, maxSteps, lr, threads, folder (a served folder), autorun=1 (train on load), eval=0 (skip the
 * evaluations), keep=NAME (copy the folder into OPFS and train from the copy), ort=<file> (another onnxruntime-web build from ort/), stopAt=N (stop after step N, as the Stop button does), resume=1 (continue from the checkpoint). `window.__distill` holds the run's state for them to read.
 */
import { type FileSource, type Ort, type StepInfo, WebTrainer, artifactFiles, copyToOpfs, defaultStore, fileListSource, readWebManifest, urlSource } from '../index.js';
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

async function run() {
  const ep = $<HTMLSelectElement>('ep').value;
  const epochs = Number($<HTMLInputElement>('epochs').value);
  const maxSteps = Number($<HTMLInputElement>('maxSteps').value);
  const learningRate = Number($<HTMLInputElement>('lr').value);
  const evaluate = params.get('eval') !== '0';
  Object.assign(state, { status: 'loading', ep, losses: [], stepMs: [], accuracy: [], finalAccuracy: null, error: null, timings: {} });
  $('downloads').replaceChildren();
  show('error', '');
  $<HTMLButtonElement>('train').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  stopRequested = false;
  const started = performance.now();
  let stageStarted = started;
  const stage = (name: string) => {
    const now = performance.now();
    state.timings[name] = (now - stageStarted) / 1000;
    stageStarted = now;
  };
  try {
    const ort = await loadOrt(ep);
    let source = dropped ?? urlSource(params.get('folder') ?? `demo/${ep === 'webgpu' ? 'gpu' : 'cpu'}/`);
    // keep=NAME: the folder is copied into the origin-private file system first, and trained from there.
    const keep = params.get('keep');
    if (keep) source = await copyToOpfs(source, await artifactFiles(source, await readWebManifest(source)), keep);
    state.source = source.description;
    log(`opening ${source.description} on ${ep}`);
    const trainer = await WebTrainer.open({ ort, source, ep: ep === 'webgpu' ? 'webgpu' : 'wasm' });
    state.gpuLimits = trainer.gpu ? { ...trainer.gpu.limits } : null;
    state.device = trainer.gpu ? `WebGPU: ${trainer.gpu.adapterDescription}` : `WASM, ${ort.env.wasm.numThreads} thread(s)`;
    show('s-ep', ep === 'webgpu' ? 'WebGPU' : `WASM x${ort.env.wasm.numThreads}`);
    log(state.device);
    stage('open');
    const train = await trainer.examples('train.jsonl');
    const evalSet = evaluate ? await trainer.examples('eval.jsonl', { allowUnlabeled: false }) : [];
    stage('tokenize');
    log(`${train.length} training rows, ${evalSet.length} eval rows (tokenized in ${state.timings.tokenize!.toFixed(1)} s)`);
    const store = await defaultStore();
    state.status = 'running';
    let lastEpoch = 0;
    const onStep = async (s: StepInfo) => {
      if (s.step >= stopAt) stopRequested = true;
      state.losses.push(s.loss);
      state.stepMs.push(s.stepMs);
      state.stepsPerSecond = s.stepsPerSecond;
      show('s-step', `${s.step} / ${s.totalSteps}`);
      // The mean of the last 10 steps, as a logging window: one batch's loss jumps (the last batch of an epoch is short).
      const recent = state.losses.slice(-10);
      show('s-loss', (recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4));
      show('s-speed', s.stepsPerSecond.toFixed(2));
      // An evaluation at each epoch's end: the accuracy points of the chart.
      if (evaluate && Math.floor(s.epoch) > lastEpoch && s.step < s.totalSteps) {
        lastEpoch = Math.floor(s.epoch);
        const r = await trainer.evaluate(evalSet);
        state.accuracy.push({ step: s.step, accuracy: r.accuracy });
        log(`epoch ${lastEpoch}: eval accuracy ${(100 * r.accuracy).toFixed(2)}%`);
      }
      if (s.step % 5 === 0 || s.step === s.totalSteps) drawChart($<HTMLCanvasElement>('chart'), chartData(s.totalSteps));
    };
    const result = await trainer.train(train, {
      epochs, maxSteps, learningRate, store, saveSteps: 50, resume: $<HTMLInputElement>('resume').checked,
      onStep, shouldStop: () => stopRequested,
    });
    stage('train');
    state.resumedFrom = result.resumedFrom;
    if (result.resumedFrom !== null) log(`resumed from the ${store.kind} checkpoint at step ${result.resumedFrom}`);
    state.stepsPerSecond = result.stepsPerSecond;
    log(`trained ${result.steps} steps in ${result.seconds.toFixed(1)} s (${result.stepsPerSecond.toFixed(2)} steps/s); checkpoint in ${store.kind}`);
    if (evaluate) {
      const r = await trainer.evaluate(evalSet);
      state.finalAccuracy = r.accuracy;
      state.accuracy.push({ step: result.steps, accuracy: r.accuracy });
      show('s-acc', `${(100 * r.accuracy).toFixed(2)}%`);
      log(`eval accuracy ${(100 * r.accuracy).toFixed(2)}%, macro F1 ${r.f1.toFixed(4)} on ${r.counted} rows`);
    }
    stage('eval');
    drawChart($<HTMLCanvasElement>('chart'), chartData(result.steps));
    offerDownload(await trainer.exportModel(), 'model.onnx');
    offerDownload(await trainer.exportSafetensors(), 'model.safetensors');
    stage('export');
    trainer.dispose();
    state.seconds = (performance.now() - started) / 1000;
    state.status = 'done';
  } catch (e) {
    state.error = (e as Error).message ?? String(e);
    state.status = 'error';
    show('error', state.error);
    log(`error: ${state.error}`);
  } finally {
    $<HTMLButtonElement>('train').disabled = false;
    $<HTMLButtonElement>('stop').disabled = true;
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
