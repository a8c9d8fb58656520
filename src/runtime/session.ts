/**
 * ONNX Runtime sessions on a chosen execution provider. Asking for a provider that this install cannot
 * run fails with a message that says how to get it, instead of ORT's own error.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { InputError } from '../errors.js';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'webgpu'];

export interface SessionOptions {
  ep?: ExecutionProvider;
  /** Intra-op threads (default: all cores). */
  threads?: number;
}

/**
 * ORT graph optimizations that training graphs turn off. CommonSubexpressionElimination would merge the
 * backward's deliberate recomputations (src/autodiff/remat.ts) back into the forward nodes they copy, which
 * keeps the forward values alive until the backward again and blocks the forward's Gelu fusion.
 */
export const TRAINING_DISABLED_OPTIMIZERS: readonly string[] = ['CommonSubexpressionElimination'];

export interface CreateOptions extends SessionOptions {
  /** ORT graph transformers not to run, by name. */
  disabledOptimizers?: readonly string[];
  /** ORT's CPU memory arena (default on): faster, but it keeps every block it once grew by. */
  memArena?: boolean;
  /**
   * For a model given as bytes whose initializers stay in external data files: the folder their locations
   * are relative to (ORT then reads them itself, as it would for the model's own path).
   */
  externalDataFolder?: string;
  /** Where each output is to be left (ORT's preferredOutputLocation): 'gpu-buffer' keeps it on a GPU provider's device. */
  outputLocations?: Record<string, ort.Tensor.DataLocation>;
}

const HOW_TO: Record<Exclude<ExecutionProvider, 'cpu'>, string> = {
  cuda:
    'the CUDA execution provider is not installed (the default install is CPU-only); with CUDA 12 and cuDNN 9 on this machine run: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js',
  webgpu:
    "the WebGPU execution provider found no usable GPU adapter; it needs a GPU with Vulkan (Linux), Metal (macOS) or D3D12 (Windows) drivers (without a GPU, Debian's chromium package brings SwiftShader, a CPU Vulkan driver: docs/WEBGPU.md)",
};

/** The ORT session options every session of ours uses. */
export function ortSessionOptions(options: CreateOptions = {}): ort.InferenceSession.SessionOptions {
  const ep = options.ep ?? 'cpu';
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [ep],
    intraOpNumThreads: options.threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableCpuMemArena: options.memArena ?? true,
    enableMemPattern: true,
    // A missing provider library is reported by our own error below; ORT's log line would only repeat it.
    logSeverityLevel: ep === 'cpu' ? 3 : 4,
  };
  // ORT's intra-op threads spin for a while after a run, waiting for more work. Our sessions take turns on the
  // same cores (teacher and trainer each step, evaluator, the low-memory update), so a finished session's
  // spinning threads took CPU from the next session's run: with a stop at the end of each run, the bench's
  // small config went from 111-125 to 105-110 ms per step, and from 166-173 to 117-122 ms with one step per
  // call (docs/PERFORMANCE.md). Spinning within a run, between its kernels, is kept.
  const session: Record<string, string> = { force_spinning_stop: '1' };
  if (options.outputLocations) sessionOptions.preferredOutputLocation = options.outputLocations;
  if (options.externalDataFolder) session.model_external_initializers_file_folder_path = options.externalDataFolder;
  const extra: Record<string, Record<string, string>> = { session };
  if (options.disabledOptimizers?.length) extra.optimization = { disable_specified_optimizers: options.disabledOptimizers.join(',') };
  sessionOptions.extra = extra;
  return sessionOptions;
}

export async function createSession(model: string | Uint8Array, options: CreateOptions = {}): Promise<ort.InferenceSession> {
  const ep = options.ep ?? 'cpu';
  const sessionOptions = ortSessionOptions(options);
  if (ep !== 'cpu') {
    const backend = ort.listSupportedBackends?.().find((b) => b.name === ep);
    if (!backend || (ep === 'cuda' && !cudaProviderInstalled())) throw new InputError(`--ep ${ep}: ${HOW_TO[ep]}`);
  }
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, sessionOptions)
      : await ort.InferenceSession.create(model, sessionOptions);
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (ep !== 'cpu' && /provider|cuda|webgpu|adapter|dawn|vulkan|libcu|shared object|dlopen/i.test(msg)) {
      throw new InputError(`--ep ${ep}: ${HOW_TO[ep]} (ONNX Runtime said: ${msg.split('\n')[0]})`);
    }
    throw e;
  }
}

/** Whether onnxruntime-node's CUDA provider library was downloaded next to its native binding. */
function cudaProviderInstalled(): boolean {
  const pkg = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return fs.existsSync(path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch, lib));
}
