/**
 * What every inference rule (infer/*.ts) reads: the node, its first input and output, attributes and the known
 * values of constant int64 inputs; and the helpers they share: symbolic dim arithmetic and the tracked values
 * of small int64 shape tensors (Shape -> Gather -> Concat -> Reshape chains), so reshaped tensors keep
 * symbolic shapes.
 */
import { DataType } from '../../onnx/dtype.js';
import { isExternal, tensorArray, tensorDims } from '../../onnx/tensor.js';
import type { TensorProto } from '../../onnx/proto.js';
import type { Attributes } from '../attributes.js';
import type { Dim, Node, TensorType, Value } from '../graph.js';

export interface InferContext {
  node: Node;
  /** The op type, prefixed with its domain outside ai.onnx ('com.microsoft:Gelu'). */
  op: string;
  opset: number;
  /** The first input and its type ({} when absent). */
  x: Value | undefined;
  xt: TensorType;
  /** The first output. */
  out: Value | null | undefined;
  A: Attributes;
  /** The known values of input i (an int64 constant or tracked shape arithmetic). */
  constIn: (i: number) => Dim[] | undefined;
}

/** The inference of one op family: sets the types of `ctx.node`'s outputs it can infer, leaves the rest. */
export interface InferRule {
  ops: readonly string[];
  infer: (ctx: InferContext) => void;
}

/** Known contents of small int64 tensors (shape arithmetic), keyed by value. */
export const shapeValues = new WeakMap<Value, Dim[]>();

export function knownIntValues(v: Value): Dim[] | undefined {
  const hit = shapeValues.get(v);
  if (hit) return hit;
  if (v.initializer) return intsOf(v.initializer);
  return undefined;
}

export function intsOf(t: TensorProto): Dim[] | undefined {
  if (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32) return undefined;
  const dims = tensorDims(t);
  // A tensor whose data stayed in its external file (a model loaded without it) is simply not known here.
  if (dims.length > 1 || (dims[0] ?? 1) > 64 || isExternal(t)) return undefined;
  return Array.from(tensorArray(t) as ArrayLike<number | bigint>, (x) => Number(x));
}

export function broadcastDims(a: Dim, b: Dim): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (a === null) return typeof b === 'number' ? b : null;
  if (b === null) return typeof a === 'number' ? a : null;
  return null; // two different symbols, or a symbol against a number > 1 (only valid if the symbol is 1)
}

export function broadcastShapes(shapes: (Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = i - (rank - s!.length);
      if (k >= 0) d = broadcastDims(d, s![k]!);
    }
    out.push(d);
  }
  return out;
}

export const normAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);

/**
 * Product of dims, symbolically where needed: symbols multiply into a canonical name ('batch*sequence', with
 * a leading numeric factor when it is not 1), so flattening [batch, sequence, 32] to [-1, 32] and back keeps
 * the dims comparable. Null when any dim is unknown.
 */
export function product(dims: Dim[]): Dim {
  let coef = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (d === null) return null;
    if (typeof d === 'number') coef *= d;
    else {
      const m = /^(\d+)\*(.+)$/.exec(d);
      if (m) {
        coef *= Number(m[1]);
        syms.push(...m[2]!.split('*'));
      } else syms.push(...d.split('*'));
    }
  }
  if (syms.length === 0 || coef === 0) return coef;
  const name = syms.sort().join('*');
  return coef === 1 ? name : `${coef}*${name}`;
}

/** total / divisor for symbolic products: drops a numeric factor or symbols the divisor names. */
export function divideDim(total: Dim, divisor: Dim): Dim {
  if (typeof total === 'number' && typeof divisor === 'number') return divisor > 0 && total % divisor === 0 ? total / divisor : null;
  if (total === null || divisor === null) return null;
  const split = (d: Dim): [number, string[]] => {
    const p = product([d]);
    if (typeof p === 'number') return [p, []];
    const m = /^(\d+)\*(.+)$/.exec(p as string);
    return m ? [Number(m[1]), m[2]!.split('*')] : [1, (p as string).split('*')];
  };
  const [tc, ts] = split(total);
  const [dc, ds] = split(divisor);
  if (dc === 0 || tc % dc !== 0) return null;
  const rest = [...ts];
  for (const s of ds) {
    const i = rest.indexOf(s);
    if (i < 0) return null;
    rest.splice(i, 1);
  }
  return product([tc / dc, ...rest]);
}

/** Sets `v`'s type to `t`, keeping what `t` leaves undefined. */
export function set(v: Value | null | undefined, t: TensorType): void {
  if (!v) return;
  if (t.elemType === undefined) t.elemType = v.type.elemType;
  if (t.shape === undefined) t.shape = v.type.shape;
  v.type = t;
}
