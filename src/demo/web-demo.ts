/**
 * The folders `distill web` serves to its page: the demo student's training artifacts (built as `distill
 * train` builds them, with the demo's optimizer settings), the teacher as teacher.onnx, the student's
 * tokenizer.json, and the SpamAssassin split as train.jsonl / eval.jsonl: the layout web/artifacts.ts reads.
 * `cpu/` runs on any provider (the WASM path); `gpu/` is built for WebGPU (step/gpu-ops.ts).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { buildTrainingArtifacts } from '../step/artifacts.js';
import { InputError } from '../errors.js';
import { writeSpamSplit } from '../data/spam.js';
import type { Manifest } from '../step/contract.js';
import { TRAIN_DEFAULTS } from '../train/options.js';
import { type Routes, type StaticServer, serveStatic } from '../util/static-server.js';
import { bundledModels } from './run.js';

export type WebTarget = 'cpu' | 'gpu';
export const WEB_TARGETS: readonly WebTarget[] = ['cpu', 'gpu'];

export interface WebDemoFolders {
  dir: string;
  /** The artifacts folder of each target. */
  folders: Record<WebTarget, string>;
  manifests: Record<WebTarget, Manifest>;
}

/** The demo teacher and student (models/demo) as `distill train` would build them for a run on `target`. */
export function buildDemoArtifacts(outDir: string, target: WebTarget): Manifest {
  const models = bundledModels();
  const d = TRAIN_DEFAULTS;
  return buildTrainingArtifacts({
    student: path.join(models, 'demo', 'student', 'model.onnx'),
    teacher: path.join(models, 'demo', 'teacher', 'model.onnx'),
    task: 'seq-cls',
    optimizer: d.optimizer,
    optimizerSettings: { beta1: d.adamBeta1, beta2: d.adamBeta2, eps: d.adamEpsilon, weightDecay: d.weightDecay },
    freeze: d.freeze,
    accumulationSteps: d.gradientAccumulationSteps,
    // As trainer.ts builds for --ep cpu and --ep webgpu: the gpu build is what every WebGPU build of
    // onnxruntime-web runs (docs/WEBGPU.md).
    target,
    narrowRows: d.narrowRows,
    outDir,
  });
}

/** Writes both targets' folders under `dir` (rebuilt every time: a few seconds). */
export function prepareWebDemo(dir: string): WebDemoFolders {
  const models = bundledModels();
  const folders = { cpu: path.join(dir, 'cpu'), gpu: path.join(dir, 'gpu') };
  const manifests = {} as Record<WebTarget, Manifest>;
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const split = writeSpamSplit(dataDir, { splitFile: path.join(models, 'demo', 'split.json') });
  for (const target of WEB_TARGETS) {
    const out = folders[target];
    fs.rmSync(out, { recursive: true, force: true });
    manifests[target] = buildDemoArtifacts(out, target);
    fs.copyFileSync(path.join(models, 'demo', 'teacher', 'model.onnx'), path.join(out, 'teacher.onnx'));
    fs.copyFileSync(path.join(models, 'demo', 'student', 'tokenizer.json'), path.join(out, 'tokenizer.json'));
    fs.copyFileSync(split.train, path.join(out, 'train.jsonl'));
    fs.copyFileSync(split.eval, path.join(out, 'eval.jsonl'));
  }
  return { dir, folders, manifests };
}

/** The package's root (above models/): where dist/web and node_modules are. */
function packageRoot(): string {
  return path.dirname(bundledModels());
}

/** onnxruntime-web's dist/ folder (the runtime files the page loads). */
export function ortWebDist(): string {
  const require = createRequire(import.meta.url);
  // Under Node, the package's main entry is dist/ort.node.min.js: its folder is dist/.
  return path.dirname(require.resolve('onnxruntime-web'));
}

export interface WebDemoServer extends StaticServer {
  folders: WebDemoFolders;
}

/**
 * Prepares the demo folders in `dir` and serves the page (dist/web), onnxruntime-web (ort/), the demo
 * (demo/cpu/, demo/gpu/) and, when given, the user's artifacts folder (user/).
 */
export async function startWebDemo(options: { dir: string; port?: number; host?: string; artifacts?: string }): Promise<WebDemoServer> {
  const page = path.join(packageRoot(), 'dist', 'web');
  if (!fs.existsSync(path.join(page, 'page.js'))) throw new InputError(`${page}: the page is not built; run 'npm run build' in ${packageRoot()}`);
  if (options.artifacts && !fs.existsSync(path.join(options.artifacts, 'manifest.json'))) {
    throw new InputError(`${options.artifacts}: no manifest.json; pass a folder 'distill build' wrote (with teacher.onnx, tokenizer.json, train.jsonl, eval.jsonl beside it)`);
  }
  const folders = prepareWebDemo(options.dir);
  const routes: Routes = { '/': page, '/ort/': ortWebDist(), '/demo/': options.dir };
  if (options.artifacts) routes['/user/'] = options.artifacts;
  const server = await serveStatic(routes, options.port ?? 8080, options.host);
  return { ...server, folders };
}
