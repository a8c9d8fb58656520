/** Inference rules: ops that join, split or pick elements: Concat, Split, Slice, Gather, GatherElements. */
import type { Dim } from '../graph.js';
import { knownIntValues, normAxis, set, shapeValues, type InferRule } from './context.js';

/** Elements of a slice of a dim of `d` (ONNX Slice's clamping). */
function sliceLength(d: number, start: number, end: number, step: number): number {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + d : start, e = end < 0 ? end + d : end;
  if (step > 0) { s = clamp(s, 0, d); e = clamp(e, 0, d); return Math.max(0, Math.ceil((e - s) / step)); }
  s = clamp(s, -1, d - 1); e = clamp(e, -1, d - 1);
  return Math.max(0, Math.ceil((s - e) / -step));
}

export const rules: readonly InferRule[] = [
  {
    ops: ['Concat'],
    infer: ({ node, xt, out, A }) => {
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
    },
  },
  {
    ops: ['Split'],
    infer: ({ node, xt, A, constIn, opset }) => {
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
    },
  },
  {
    ops: ['Slice'],
    infer: ({ node, x, xt, out, constIn }) => {
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
    },
  },
  {
    ops: ['Gather'],
    infer: ({ node, x, xt, out, A, constIn }) => {
      const s = xt.shape, ind = node.inputs[1]?.type.shape;
      const axis = s ? normAxis(A.int('axis', 0), s.length) : 0;
      set(out, { elemType: xt.elemType, shape: s && ind ? [...s.slice(0, axis), ...ind, ...s.slice(axis + 1)] : undefined });
      const k = x ? knownIntValues(x) : undefined, idx = constIn(1);
      if (k && idx && out && idx.every((i) => typeof i === 'number')) {
        shapeValues.set(out, (idx as number[]).map((i) => k[i < 0 ? i + k.length : i] ?? null));
      }
    },
  },
  {
    ops: ['GatherElements'],
    infer: ({ node, xt, out }) => {
      set(out, { elemType: xt.elemType, shape: node.inputs[1]?.type.shape });
    },
  },
];
