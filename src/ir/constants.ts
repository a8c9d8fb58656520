/** Reading values that are fixed when a graph is built (initializers, Constant nodes). */
import { tensorToNumbers } from '../onnx/tensor.js';
import type { Value } from './graph.js';
import { isStandardDomain } from '../onnx/ops.js';

/**
 * The contents of `v` when it is fixed at build time: an initializer that is not also a graph input (a graph
 * input can override its initializer at run time) or the output of a Constant node. Undefined otherwise, or
 * when the tensor cannot be decoded (external data, strings).
 */
export function constantNumbers(v: Value | null | undefined): number[] | undefined {
  if (!v) return undefined;
  try {
    if (v.initializer) return v.isGraphInput ? undefined : tensorToNumbers(v.initializer);
    const p = v.producer;
    if (!p || p.opType !== 'Constant' || !isStandardDomain(p.domain)) return undefined;
    const t = p.attrs.tensor('value');
    if (t) return tensorToNumbers(t);
    if (p.attrs.has('value_float')) return [p.attrs.float('value_float')];
    if (p.attrs.has('value_floats')) return p.attrs.floats('value_floats');
    if (p.attrs.has('value_int')) return [p.attrs.int('value_int')];
    if (p.attrs.has('value_ints')) return p.attrs.ints('value_ints');
  } catch {
    return undefined;
  }
  return undefined;
}

/** The single value of a constant whose elements are all equal (a scalar in practice), else undefined. */
export function constantScalar(v: Value | null | undefined): number | undefined {
  const k = constantNumbers(v);
  if (!k || k.length === 0 || k.some((x) => x !== k[0])) return undefined;
  return k[0];
}
