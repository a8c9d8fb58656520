/**
 * Checks that keep a WebGPU run from training on wrong numbers where the device reports no error (the JSEP
 * build computes garbage for a node over the storage-buffer limit, and says nothing: docs/BROWSER.md).
 * Device errors themselves are GpuErrorWatch's (session.ts).
 */
import { decodeModel } from '../onnx/model-codec.js';
import { wideNodes } from '../onnx/storage-buffers.js';
import type { StepMetrics } from '../runtime/step-driver.js';
import { GpuValidationError } from './session.js';

/** Refuses a model with a Concat/Split/Sum over the device's storage buffers per shader stage. */
export function checkStorageBuffers(bytes: Uint8Array, source: string, limit: number): void {
  const wide = wideNodes(decodeModel(bytes, source), limit);
  if (wide.length === 0) return;
  const w = wide[0]!;
  throw new GpuValidationError(
    `${source}: ${w.op} '${w.name}' binds ${w.buffers} storage buffers and this WebGPU device allows ${limit} per shader stage (${wide.length} such node(s)); onnxruntime-web would compute it wrong without an error, so rebuild the artifacts with 'distill build --ep webgpu' or train on WASM`,
  );
}

/**
 * A step's metrics that cannot come from a correct computation: a finite loss whose gradient norm is 0 or
 * not finite means no gradient reached the parameters (what a skipped shader leaves in a zeroed buffer).
 */
export function checkGpuMetrics(m: StepMetrics, step: number): void {
  if (Number.isFinite(m.loss) && !(m.gradNorm > 0 && Number.isFinite(m.gradNorm))) {
    throw new GpuValidationError(`step ${step}: WebGPU gave grad_norm ${m.gradNorm} with loss ${m.loss}, which a correct step cannot; training stopped (the last checkpoint is from before it). Train on WASM, or report the browser and GPU`);
  }
}
