/**
 * Element-type and shape inference over the IR, with symbolic dimensions (dim_param names such as 'batch'
 * flow through). It also tracks the *values* of small int64 shape tensors (Shape -> Gather -> Concat ->
 * Reshape chains that exporters emit), so reshaped tensors keep symbolic shapes. What cannot be inferred
 * stays unknown (undefined type fields, null dims); callers must treat unknown as "could be anything".
 */
import { DataType } from '../onnx/dtype.js';
import { isExternal, tensorArray, tensorDims } from '../onnx/tensor.js';
import type { TensorProto } from '../onnx/proto.js';
import type { Dim, Graph, Node, TensorType, Value } from './graph.js';

/** Known contents of small int64 tensors (shape arithmetic), keyed by value. */
const shapeValues = new WeakMap<Value, Dim[]>();

export function knownIntValues(v: Value): Dim[] | undefined {
  const hit = shapeValues.get(v);
  if (hit) return hit;
  if (v.initializer) return intsOf(v.initializer);
  return undefined;
}

function intsOf(t: TensorProto): Dim[] | undefined {
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

const normAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);

/**
 * Product of dims, symbolically where needed: symbols multiply into a canonical name ('batch*sequence', with
 * a leading numeric factor when it is not 1), so flattening [batch, sequence, 32] to [-1, 32] and back keeps
 * the dims comparable. Null when any dim is unknown.
 */
function product(dims: Dim[]): Dim {
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
function divideDim(total: Dim, divisor: Dim): Dim {
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

const SAME_AS_INPUT = new Set([
  'Identity', 'Neg', 'Abs', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Erf', 'Tanh', 'Sigmoid', 'Relu', 'LeakyRelu', 'Gelu',
  'Softmax', 'LogSoftmax', 'Sin', 'Cos', 'Floor', 'Ceil', 'Round', 'Sign', 'Softplus', 'Elu', 'Selu', 'HardSigmoid',
  'Clip', 'Trilu', 'ScatterND', 'ScatterElements', 'Not', 'Mish', 'HardSwish', 'Celu', 'CumSum', 'FastGelu',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Mod', 'PRelu', 'BitShift']);
const COMPARE = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor']);
const REDUCE = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL2', 'ReduceL1',
  'ReduceSumSquare', 'ReduceLogSumExp', 'ArgMax', 'ArgMin']);
/** Reductions that took `axes` as an input from this opset on. */
const REDUCE_AXES_INPUT_SINCE: Record<string, number> = { ReduceSum: 13 };

function set(v: Value | null | undefined, t: TensorType): void {
  if (!v) return;
  if (t.elemType === undefined) t.elemType = v.type.elemType;
  if (t.shape === undefined) t.shape = v.type.shape;
  v.type = t;
}

/** Infers the types of `node`'s outputs from its inputs (leaves what it cannot infer as it was). */
export function inferNode(node: Node, opset: number): void {
  const x = node.inputs[0] ?? undefined;
  const xt = x?.type ?? {};
  const out = node.outputs[0];
  const op = node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}:${node.opType}`;
  const A = node.attrs;
  const constIn = (i: number) => (node.inputs[i] ? knownIntValues(node.inputs[i]!) : undefined);

  if (SAME_AS_INPUT.has(op)) {
    set(out, { elemType: xt.elemType, shape: xt.shape });
    if (op === 'Identity' && x) { const k = knownIntValues(x); if (k && out) shapeValues.set(out, k); }
    return;
  }
  if (BROADCAST.has(op) || COMPARE.has(op)) {
    const shape = broadcastShapes(node.inputs.map((v) => v?.type.shape));
    set(out, { elemType: COMPARE.has(op) ? DataType.BOOL : xt.elemType, shape });
    if (op === 'Equal' && out) {
      // Exporters test shape values against -1 (`expand` semantics): a dim is never negative.
      const [a, b] = [constIn(0), constIn(1)];
      if (a && b && (a.length === b.length || b.length === 1)) {
        const eq = a.map((p, i) => {
          const q = b[b.length === 1 ? 0 : i]!;
          if (p === q && p !== null) return 1;
          if (typeof p === 'number' && typeof q === 'number') return 0;
          if ((typeof p === 'string' && typeof q === 'number' && q < 0) || (typeof q === 'string' && typeof p === 'number' && p < 0)) return 0;
          return null;
        });
        shapeValues.set(out, eq);
      }
    }
    const vals = node.inputs.map((v) => (v ? knownIntValues(v) : undefined));
    if (!COMPARE.has(op) && vals.length === 2 && vals[0] && vals[1] && out) {
      const [a, b] = vals as [Dim[], Dim[]];
      const n = Math.max(a.length, b.length);
      if ((a.length === n || a.length === 1) && (b.length === n || b.length === 1) && xt.shape?.length !== undefined) {
        const res: Dim[] = [];
        for (let i = 0; i < n; i++) {
          const p = a[a.length === 1 ? 0 : i]!, q = b[b.length === 1 ? 0 : i]!;
          res.push(typeof p === 'number' && typeof q === 'number' ? arith(op, p, q) : null);
        }
        shapeValues.set(out, res);
      }
    }
    return;
  }
  switch (op) {
    case 'Dropout':
      set(out, { elemType: xt.elemType, shape: xt.shape });
      set(node.outputs[1], { elemType: DataType.BOOL, shape: xt.shape });
      return;
    case 'Cast':
      set(out, { elemType: A.int('to'), shape: xt.shape });
      if (x && out) { const k = knownIntValues(x); if (k) shapeValues.set(out, k); }
      return;
    case 'CastLike':
      set(out, { elemType: node.inputs[1]?.type.elemType, shape: xt.shape });
      return;
    case 'IsNaN': case 'IsInf':
      set(out, { elemType: DataType.BOOL, shape: xt.shape });
      return;
    case 'Where': {
      const shape = broadcastShapes(node.inputs.map((v) => v?.type.shape));
      set(out, { elemType: node.inputs[1]?.type.elemType, shape });
      const [c, a, b] = [constIn(0), constIn(1), constIn(2)];
      if (out && c && a && b && c.every((v) => v === 0 || v === 1)) {
        const pick = (k: Dim[], i: number) => k[k.length === 1 ? 0 : i]!;
        shapeValues.set(out, c.map((v, i) => (v === 1 ? pick(a, i) : pick(b, i))));
      }
      return;
    }
    case 'LayerNormalization': {
      set(out, { elemType: xt.elemType, shape: xt.shape });
      const axis = A.int('axis', -1);
      const stat = xt.shape?.map((d, i) => (i < normAxis(axis, xt.shape!.length) ? d : 1));
      set(node.outputs[1], { elemType: A.int('stash_type', 1), shape: stat });
      set(node.outputs[2], { elemType: A.int('stash_type', 1), shape: stat });
      return;
    }
    case 'MatMul': {
      const a = xt.shape, b = node.inputs[1]?.type.shape;
      let shape: Dim[] | undefined;
      if (a && b) {
        const a2 = a.length === 1 ? [1, a[0]!] : a, b2 = b.length === 1 ? [b[0]!, 1] : b;
        const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)])!;
        shape = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
        if (a.length === 1) shape.splice(shape.length - 2, 1);
        if (b.length === 1) shape.splice(shape.length - 1, 1);
      }
      set(out, { elemType: xt.elemType, shape });
      return;
    }
    case 'Gemm': {
      const a = xt.shape, b = node.inputs[1]?.type.shape;
      const m = a ? (A.int('transA', 0) ? a[1] : a[0]) : null;
      const n = b ? (A.int('transB', 0) ? b[0] : b[1]) : null;
      set(out, { elemType: xt.elemType, shape: [m ?? null, n ?? null] });
      return;
    }
    case 'Transpose': {
      const s = xt.shape;
      const perm = A.ints('perm', s ? s.map((_, i) => s.length - 1 - i) : []);
      set(out, { elemType: xt.elemType, shape: s ? perm.map((p) => s[p]!) : undefined });
      return;
    }
    case 'Reshape': {
      const target = constIn(1);
      let shape: Dim[] | undefined;
      if (target) {
        shape = target.map((d, i) => (d === 0 && !A.int('allowzero', 0) ? xt.shape?.[i] ?? null : d));
        const minus = shape.indexOf(-1);
        if (minus >= 0) {
          const total = xt.shape ? product(xt.shape) : null;
          const rest = product(shape.filter((_, i) => i !== minus));
          shape[minus] = divideDim(total, rest);
          // Flattening to [-1, rest...] from [...lead, rest...] keeps the lead symbolic when it is one dim.
          if (shape[minus] === null && xt.shape && minus === 0 && shape.length > 1) {
            const tail = shape.slice(1);
            const xtail = xt.shape.slice(xt.shape.length - tail.length);
            if (xt.shape.length === tail.length + 1 && tail.every((d, i) => d === xtail[i])) shape[0] = xt.shape[0]!;
          }
        }
      } else {
        const len = node.inputs[1]?.type.shape?.[0];
        if (typeof len === 'number') shape = Array.from({ length: len }, () => null);
      }
      set(out, { elemType: xt.elemType, shape });
      if (out && x) { const k = knownIntValues(x); if (k && shape?.length === 1) shapeValues.set(out, k); }
      return;
    }
    case 'Flatten': {
      const s = xt.shape;
      const axis = s ? normAxis(A.int('axis', 1), s.length) : 1;
      set(out, { elemType: xt.elemType, shape: s ? [product(s.slice(0, axis)), product(s.slice(axis))] : [null, null] });
      return;
    }
    case 'Squeeze': case 'Unsqueeze': {
      const axes = (opset >= 13 ? constIn(1) : A.ints('axes', [])) as number[] | undefined;
      const s = xt.shape;
      let shape: Dim[] | undefined;
      if (s && axes) {
        if (op === 'Squeeze') {
          const norm = axes.map((a) => normAxis(a, s.length));
          shape = s.filter((_, i) => !norm.includes(i));
        } else {
          const r = s.length + axes.length;
          const norm = axes.map((a) => normAxis(a, r));
          shape = [];
          let k = 0;
          for (let i = 0; i < r; i++) shape.push(norm.includes(i) ? 1 : s[k++]!);
        }
      } else if (s && op === 'Squeeze' && !node.inputs[1] && !A.has('axes')) {
        shape = s.every((d) => typeof d === 'number') ? s.filter((d) => d !== 1) : undefined;
      }
      set(out, { elemType: xt.elemType, shape });
      const k = x ? knownIntValues(x) : undefined;
      if (k && out && k.length === 1) shapeValues.set(out, k);
      return;
    }
    case 'Concat': {
      const shapes = node.inputs.map((v) => v?.type.shape);
      let shape: Dim[] | undefined;
      if (shapes.every((s) => s)) {
        const r = shapes[0]!.length;
        const axis = normAxis(A.int('axis'), r);
        const along = shapes.map((s) => s![axis]!);
        const sum = along.every((d) => typeof d === 'number') ? (along as number[]).reduce((a, b) => a + b, 0) : null;
        shape = shapes[0]!.map((d, i) => (i === axis ? sum : d));
      }
      set(out, { elemType: xt.elemType, shape });
      const parts = node.inputs.map((v) => (v ? knownIntValues(v) : undefined));
      if (out && parts.every((p) => p)) shapeValues.set(out, parts.flat() as Dim[]);
      return;
    }
    case 'Split': {
      const s = xt.shape;
      const n = node.outputs.length;
      const axis = s ? normAxis(A.int('axis', 0), s.length) : 0;
      const sizesGiven = opset >= 13 ? node.inputs[1] !== undefined && node.inputs[1] !== null : A.has('split');
      const sizes = (opset >= 13 ? constIn(1) : A.has('split') ? A.ints('split') : undefined) as Dim[] | undefined;
      node.outputs.forEach((o, i) => {
        let d: Dim = null;
        if (sizes) d = sizes[i] ?? null;
        else if (!sizesGiven && s && typeof s[axis] === 'number') {
          // Equal chunks; with num_outputs (opset 18) the last one takes the remainder.
          const total = s[axis] as number;
          const chunk = Math.ceil(total / n);
          d = i < n - 1 ? chunk : total - chunk * (n - 1);
        }
        set(o, { elemType: xt.elemType, shape: s ? s.map((x2, k) => (k === axis ? d : x2)) : undefined });
      });
      return;
    }
    case 'Slice': {
      const s = xt.shape;
      const starts = constIn(1), ends = constIn(2);
      const axes = (node.inputs[3] ? constIn(3) : starts?.map((_, i) => i)) as number[] | undefined;
      const steps = node.inputs[4] ? constIn(4) : starts?.map(() => 1);
      let shape: Dim[] | undefined = s ? [...s] : undefined;
      if (s && axes && shape) {
        axes.forEach((a, i) => {
          const ax = normAxis(a, s.length);
          const d = s[ax];
          const st = starts?.[i], en = ends?.[i], sp = steps?.[i];
          if (typeof d === 'number' && typeof st === 'number' && typeof en === 'number' && typeof sp === 'number') {
            shape![ax] = sliceLength(d, st, en, sp);
          } else if (st === 0 && typeof en === 'number' && en >= 2 ** 31 - 1 && sp === 1) {
            shape![ax] = d ?? null;
          } else if (sp === 1 && ((st === 0 && en === 1) || (st === -1 && typeof en === 'number' && en >= 2 ** 31 - 1))) {
            // The first or the last element: 1 on any dim of at least one (a symbolic dim names a size > 0).
            shape![ax] = 1;
          } else if (st === 0 && typeof en === 'string' && sp === 1) {
            // x[:n] with a symbolic n (position ids sliced to the sequence length): n, assuming n <= the
            // dim, which holds whenever the model runs at all (it would read past its tables otherwise).
            shape![ax] = en;
          } else shape![ax] = null;
        });
      } else if (s) shape = s.map(() => null);
      set(out, { elemType: xt.elemType, shape });
      const k = x ? knownIntValues(x) : undefined;
      if (k && out && starts && ends && starts.length === 1 && typeof starts[0] === 'number' && typeof ends[0] === 'number') {
        const [st, en] = [starts[0], ends[0]];
        const len = k.length;
        const a = st < 0 ? Math.max(0, st + len) : Math.min(st, len), b = en < 0 ? Math.max(0, en + len) : Math.min(en, len);
        shapeValues.set(out, k.slice(a, b));
      }
      return;
    }
    case 'Gather': {
      const s = xt.shape, ind = node.inputs[1]?.type.shape;
      const axis = s ? normAxis(A.int('axis', 0), s.length) : 0;
      set(out, { elemType: xt.elemType, shape: s && ind ? [...s.slice(0, axis), ...ind, ...s.slice(axis + 1)] : undefined });
      const k = x ? knownIntValues(x) : undefined, idx = constIn(1);
      if (k && idx && out && idx.every((i) => typeof i === 'number')) {
        shapeValues.set(out, (idx as number[]).map((i) => k[i < 0 ? i + k.length : i] ?? null));
      }
      return;
    }
    case 'GatherElements':
      set(out, { elemType: xt.elemType, shape: node.inputs[1]?.type.shape });
      return;
    case 'Expand': {
      // Without the target's values, its length still fixes the output rank.
      const len = node.inputs[1]?.type.shape?.[0];
      const target = constIn(1) ?? (typeof len === 'number' ? Array.from({ length: len }, (): Dim => null) : undefined);
      set(out, { elemType: xt.elemType, shape: target ? broadcastShapes([xt.shape, target]) : undefined });
      return;
    }
    case 'Shape': {
      const s = xt.shape;
      const r = s?.length;
      const start = r !== undefined ? normAxis(A.int('start', 0), r) : 0;
      const end = r !== undefined ? (A.has('end') ? normAxis(A.int('end'), r) : r) : 0;
      set(out, { elemType: DataType.INT64, shape: [r !== undefined ? end - start : null] });
      if (s && out) shapeValues.set(out, s.slice(start, end));
      return;
    }
    case 'Size':
      set(out, { elemType: DataType.INT64, shape: [] });
      return;
    case 'Constant': {
      const t = A.tensor('value');
      if (t && out) {
        set(out, { elemType: t.dataType, shape: tensorDims(t) });
        const k = intsOf(t);
        if (k) shapeValues.set(out, k);
      } else if (A.has('value_float')) set(out, { elemType: DataType.FLOAT, shape: [] });
      else if (A.has('value_int')) set(out, { elemType: DataType.INT64, shape: [] });
      else if (A.has('value_ints')) set(out, { elemType: DataType.INT64, shape: [A.ints('value_ints').length] });
      else if (A.has('value_floats')) set(out, { elemType: DataType.FLOAT, shape: [A.floats('value_floats').length] });
      if (A.has('value_int') && out) shapeValues.set(out, [A.int('value_int')]);
      if (A.has('value_ints') && out) shapeValues.set(out, A.ints('value_ints'));
      return;
    }
    case 'ConstantOfShape': {
      const t = A.tensor('value');
      const dims = constIn(0);
      set(out, { elemType: t?.dataType ?? DataType.FLOAT, shape: dims ?? undefined });
      const fill = t ? intsOf(t)?.[0] : undefined;
      if (out && fill !== undefined && dims?.length === 1 && typeof dims[0] === 'number' && dims[0] <= 64) {
        shapeValues.set(out, Array.from({ length: dims[0] }, () => fill));
      }
      return;
    }
    case 'Range': {
      // Range(0, n, 1) has n elements: position ids keep the symbolic sequence length.
      const [start, limit, delta] = [constIn(0)?.[0], constIn(1)?.[0], constIn(2)?.[0]];
      set(out, { elemType: xt.elemType, shape: [start === 0 && delta === 1 && limit !== undefined ? limit : null] });
      return;
    }
    case 'NonZero':
      set(out, { elemType: DataType.INT64, shape: [xt.shape?.length ?? null, null] });
      return;
    case 'Tile': case 'Pad':
      set(out, { elemType: xt.elemType, shape: xt.shape?.map(() => null) });
      return;
    case 'Einsum': {
      const eq = A.string('equation').replace(/\s/g, '');
      const [lhs, explicit] = eq.split('->');
      // Implicit output: the letters that appear exactly once, in alphabetical order.
      const letters = [...lhs!.replace(/[,.]/g, '')];
      const rhs = explicit ?? [...new Set(letters)].filter((c) => letters.indexOf(c) === letters.lastIndexOf(c)).sort().join('');
      const terms = lhs!.split(',');
      const dimOf = new Map<string, Dim>();
      terms.forEach((t, i) => {
        const s = node.inputs[i]?.type.shape;
        if (s && !t.includes('.')) [...t].forEach((c, k) => dimOf.set(c, broadcastDims(dimOf.get(c) ?? 1, s[k]!)));
      });
      if (rhs !== undefined && !rhs.includes('.')) set(out, { elemType: xt.elemType, shape: [...rhs].map((c) => dimOf.get(c) ?? null) });
      else set(out, { elemType: xt.elemType });
      return;
    }
    default:
      break;
  }
  if (REDUCE.has(op)) {
    const s = xt.shape;
    const keep = A.int('keepdims', 1) === 1;
    const axesFromInput = opset >= (REDUCE_AXES_INPUT_SINCE[op] ?? 18) && !op.startsWith('Arg');
    let axes: number[] | undefined = op.startsWith('Arg')
      ? [A.int('axis', 0)]
      : axesFromInput ? (node.inputs[1] ? (constIn(1) as number[] | undefined) : []) : A.ints('axes', []);
    let shape: Dim[] | undefined;
    if (s && axes) {
      if (axes.length === 0) axes = A.int('noop_with_empty_axes', 0) ? [] : s.map((_, i) => i);
      const norm = axes.map((a) => normAxis(a, s.length));
      shape = keep ? s.map((d, i) => (norm.includes(i) ? 1 : d)) : s.filter((_, i) => !norm.includes(i));
    } else if (s && keep) {
      shape = s.map(() => null); // run-time axes: the rank survives keepdims
    }
    set(out, { elemType: op.startsWith('Arg') ? DataType.INT64 : xt.elemType, shape });
  }
}

function arith(op: string, a: number, b: number): number | null {
  switch (op) {
    case 'Add': return a + b;
    case 'Sub': return a - b;
    case 'Mul': return a * b;
    case 'Div': return b !== 0 ? Math.trunc(a / b) : null;
    default: return null;
  }
}

function sliceLength(d: number, start: number, end: number, step: number): number {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + d : start, e = end < 0 ? end + d : end;
  if (step > 0) { s = clamp(s, 0, d); e = clamp(e, 0, d); return Math.max(0, Math.ceil((e - s) / step)); }
  s = clamp(s, -1, d - 1); e = clamp(e, -1, d - 1);
  return Math.max(0, Math.ceil((s - e) / -step));
}

/** Runs inference over the whole graph in topological order. */
export function inferTypes(graph: Graph, opset: number): void {
  graph.topoSort();
  for (const n of graph.nodes) inferNode(n, opset);
}
