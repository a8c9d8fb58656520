/**
 * Whether a run can fit before it starts. onnxruntime-web's WASM build is 32-bit: its heap ends at 4 GiB, and
 * a train_step call holds the parameters and optimizer state it was fed (copied into the heap), the new ones
 * it returns, and the gradients, besides the activations. Measured with onnxruntime-web 1.30
 * (docs/BROWSER.md): train_step trained a 128M-parameter float32 student with AdamW, about 3.6 GB by this
 * count. WebGPU binds every tensor as one storage buffer, so the largest must fit the device's
 * maxStorageBufferBindingSize.
 */
import { InputError } from '../errors.js';
import type { Manifest } from '../step/contract.js';
import type { GpuLimits, WebProvider } from './session.js';

/** The WASM heap's end: 2^32 bytes. */
export const WASM_HEAP_BYTES = 2 ** 32;

const bytesOf = (t: { dtype: string; shape: number[] }) => t.shape.reduce((a, d) => a * d, 1) * (t.dtype === 'float64' ? 8 : 4);
const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;

export interface FitEstimate {
  parameterBytes: number;
  stateBytes: number;
  /** What one train_step call holds in the WASM heap besides activations: 2 x (parameters + state) + gradients. */
  stepBytes: number;
  largestTensor: { name: string; bytes: number };
}

export function estimateFit(manifest: Manifest): FitEstimate {
  const parameterBytes = manifest.parameters.reduce((n, p) => n + bytesOf(p), 0);
  const stateBytes = manifest.state.reduce((n, s) => n + bytesOf(s), 0);
  let largestTensor = { name: '', bytes: 0 };
  for (const t of [...manifest.parameters, ...manifest.state]) if (bytesOf(t) > largestTensor.bytes) largestTensor = { name: t.name, bytes: bytesOf(t) };
  return { parameterBytes, stateBytes, stepBytes: 2 * (parameterBytes + stateBytes) + parameterBytes, largestTensor };
}

/** Throws an InputError that says what does not fit and what to do, before any session is made. */
export function checkFits(manifest: Manifest, ep: WebProvider, gpu?: GpuLimits): void {
  const e = estimateFit(manifest);
  const params = manifest.parameters.reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0);
  if (ep === 'wasm' && e.stepBytes > WASM_HEAP_BYTES * 0.9) {
    throw new InputError(
      `this student cannot train on WASM: ${(params / 1e6).toFixed(0)}M parameters need about ${mb(e.stepBytes)} per step (parameters and optimizer state in and out, and the gradients) of the 4096 MB WASM heap; train a smaller student, freeze parameters ('distill build --freeze'), or use WebGPU`,
    );
  }
  if (ep === 'webgpu' && gpu && e.largestTensor.bytes > gpu.maxStorageBufferBindingSize) {
    throw new InputError(
      `this student cannot train on this WebGPU device: '${e.largestTensor.name}' is ${mb(e.largestTensor.bytes)}, over the device's ${mb(gpu.maxStorageBufferBindingSize)} storage-buffer limit; use a smaller vocabulary or hidden size, or WASM`,
    );
  }
}
