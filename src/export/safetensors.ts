/**
 * The safetensors format on disk (safetensors-codec.ts has the format itself, shared with the browser entry
 * point). Used for Hugging Face weights and for the PyTorch reference numbers the tests compare against.
 */
import * as fs from 'node:fs';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { type SafeTensor, encodeSafetensors, parseSafetensors } from './safetensors-codec.js';

export { type SafeDtype, type SafeTensor, floatArray, safeToFloat64 } from './safetensors-codec.js';

export function readSafetensors(file: string): Map<string, SafeTensor> {
  return readSafetensorsFile(file).tensors;
}

/** Tensors and the string metadata map (`__metadata__`) of a safetensors file. */
export function readSafetensorsFile(file: string): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new InputError(`${file}: cannot read safetensors file (${(e as NodeJS.ErrnoException).code})`);
  }
  return parseSafetensors(buf, file);
}

/** Writes tensors (name -> dtype, shape, bytes) with an optional string metadata map, atomically. */
export function writeSafetensors(file: string, tensors: Map<string, SafeTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
