/**
 * The browser's session layer: onnxruntime-web sessions on the WASM or the WebGPU execution provider. The
 * caller imports onnxruntime-web itself (the bundle it wants: 'onnxruntime-web/wasm' or
 * 'onnxruntime-web/webgpu') and hands the module over, so this library never pins a build or a CDN, and every
 * tensor it makes comes from that module's own Tensor class.
 */
import type { Env, InferenceSession, OnnxValueDataLocation, Tensor, TensorConstructor } from 'onnxruntime-common';
import { InputError } from '../errors.js';

/** What this library uses of an onnxruntime-web module. */
export interface Ort {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: TensorConstructor;
  env: Env;
}

export type WebProvider = 'wasm' | 'webgpu';
export const WEB_PROVIDERS: readonly WebProvider[] = ['wasm', 'webgpu'];

export type { InferenceSession, Tensor };

/**
 * ORT graph optimizations that training graphs turn off, as runtime/session.ts does for Node:
 * CommonSubexpressionElimination would merge the backward's deliberate recomputations back into the forward.
 */
const TRAINING_DISABLED_OPTIMIZERS = ['CommonSubexpressionElimination'];

export interface WebSessionOptions {
  ep: WebProvider;
  /** A training graph (its recomputations are kept). */
  training?: boolean;
  /** Where outputs are left: 'gpu-buffer' keeps them in WebGPU buffers (see StepDriver). */
  outputLocations?: Record<string, OnnxValueDataLocation>;
}

/** One session of `model` (its name is for messages). */
export async function createWebSession(ort: Ort, model: Uint8Array, name: string, options: WebSessionOptions): Promise<InferenceSession> {
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: [options.ep],
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: 3,
  };
  if (options.training) sessionOptions.extra = { optimization: { disable_specified_optimizers: TRAINING_DISABLED_OPTIMIZERS.join(',') } };
  if (options.outputLocations) sessionOptions.preferredOutputLocation = options.outputLocations;
  try {
    return await ort.InferenceSession.create(model, sessionOptions);
  } catch (e) {
    const msg = String((e as Error).message ?? e).split('\n')[0]!;
    // torch.onnx.export (dynamo) writes model.onnx + model.onnx.data; the page loads one file per model.
    if (/external data/i.test(msg)) {
      throw new InputError(`${name}: its weights are in a separate data file, and the page loads ${name} alone: save it as one file (Python: onnx.save(onnx.load(path), '${name}', save_as_external_data=False))`);
    }
    throw new InputError(`${name}: onnxruntime-web (${options.ep}) cannot create a session: ${msg}${options.ep === 'webgpu' ? "; WebGPU needs artifacts built with 'distill build --ep webgpu'" : ''}`);
  }
}

/** The WebGPU device's limits this library checks before a run (see fit.ts). */
export interface GpuLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxStorageBuffersPerShaderStage: number;
}

/**
 * Errors the WebGPU device reported. ORT does not surface validation errors (a shader over the storage-buffer
 * limit is skipped, and its output stays whatever the buffer held), so training would go on with wrong
 * numbers: `check` after every step turns any of them into a thrown error.
 */
export class GpuErrorWatch {
  private readonly errors: { message: string; kind: string }[] = [];
  constructor(readonly limits: GpuLimits, readonly adapterDescription: string) {}

  /** `kind`: the GPUError's class (GPUValidationError, GPUOutOfMemoryError, GPUInternalError). */
  record(message: string, kind = 'GPUError'): void {
    this.errors.push({ message, kind });
  }

  /** Throws the first error the device reported since the watch began, naming `where`. */
  check(where: string): void {
    const f = this.failure(where);
    if (f) throw f;
  }

  /**
   * The error to stop with at `where`, or undefined when there is none: running out of memory (reported by
   * the device, or in the message of `cause`, an exception from onnxruntime-web's WebGPU run) with what to
   * do about it; else the first error the device reported; else `cause` itself, on one line.
   */
  failure(where: string, cause?: unknown): GpuValidationError | undefined {
    const thrown = cause === undefined ? undefined : ortMessage(cause);
    const oom = this.errors.find((e) => e.kind === 'GPUOutOfMemoryError')?.message ?? (thrown && /out of memory/i.test(thrown) ? thrown : undefined);
    if (oom) {
      // The one a user fixes by asking for less: WebGPU tells no total before the run.
      return new GpuValidationError(
        `${where}: the GPU ran out of memory (${oom}), so training stopped: the student's weights, optimizer state and one batch's activations do not fit this device; lower the batch size or max length, train a smaller student, or use the 'wasm' provider`,
      );
    }
    if (this.errors.length > 0) {
      return new GpuValidationError(`${where}: WebGPU reported ${this.errors.length} error(s), so the results are wrong and training stopped: ${this.errors[0]!.message}`);
    }
    return thrown === undefined ? undefined : new GpuValidationError(`${where}: the WebGPU run failed, so training stopped: ${thrown}`);
  }
}

/** An onnxruntime-web exception's message on one line, without the binding's `failed to call OrtRun()` wrapper. */
function ortMessage(e: unknown): string {
  const raw = e instanceof Error ? e.message : String(e);
  return raw.replace(/^failed to call OrtRun\(\)\. ERROR_CODE: \d+, ERROR_MESSAGE: /, '').replace(/\s*\n\s*/g, ' ').trim();
}

/** A WebGPU device error during training: the numbers cannot be trusted. */
export class GpuValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuValidationError';
  }
}

interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}
interface GpuAdapterLike {
  limits: Record<string, number>;
  info?: { vendor?: string; architecture?: string; description?: string };
  requestDevice(descriptor: { requiredLimits: Record<string, number> }): Promise<GpuDeviceLike>;
}
interface GpuDeviceLike {
  limits: Record<string, number>;
  addEventListener(type: 'uncapturederror', listener: (event: { error: { message: string; constructor?: { name?: string } } }) => void): void;
  lost: Promise<{ message: string }>;
}

/**
 * Creates the WebGPU device ORT will use (with the adapter's own limits, as ORT asks for itself) and hands it
 * to onnxruntime-web, so that its errors can be watched. Must run before the first WebGPU session.
 */
export async function prepareWebGpu(ort: Ort): Promise<GpuErrorWatch> {
  const gpu = (globalThis as unknown as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (!gpu) throw new InputError("WebGPU: this browser has no navigator.gpu (Chrome/Edge 113+; Chromium on Linux needs --enable-unsafe-webgpu); use the 'wasm' provider");
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new InputError("WebGPU: no GPU adapter is available; use the 'wasm' provider");
  const wanted = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension'];
  const requiredLimits: Record<string, number> = {};
  for (const k of wanted) if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k]!;
  const device = await adapter.requestDevice({ requiredLimits });
  const info = adapter.info;
  const watch = new GpuErrorWatch(
    {
      maxBufferSize: device.limits.maxBufferSize!,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize!,
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage!,
    },
    [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter',
  );
  device.addEventListener('uncapturederror', (event) => watch.record(event.error.message, event.error.constructor?.name));
  void device.lost.then((l) => watch.record(`the device was lost (${l.message})`));
  (ort.env.webgpu as unknown as { device: unknown }).device = device;
  return watch;
}
