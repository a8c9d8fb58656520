/**
 * Prompt collection of the buffers onnxruntime-node hands back. Every ORT call returns fresh copies of the
 * parameters and optimizer state it outputs (even of outputs fetched into preallocated tensors); V8 counts
 * them as external memory and, left to itself, collects them only a few calls later, so the process holds
 * two or three generations of the state at once. Collecting right after the trainer has dropped the old
 * generation keeps one (docs/PERFORMANCE.md, "Why the open targets are open").
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

let collector: (() => void) | null | undefined;

/** Runs a full garbage collection; a no-op where this V8 will not expose one. */
export function collectGarbage(): void {
  if (collector === undefined) collector = findCollector();
  collector?.();
}

function findCollector(): (() => void) | null {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    // Node starts without --expose-gc; the flag still takes effect for contexts created after it is set.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
