/** Inference rules: ops that reshape, reorder or broadcast without selecting elements, and the shape ops themselves. */
import { DataType } from '../../onnx/dtype.js';
import type { Dim } from '../graph.js';
import { broadcastShapes, divideDim, knownIntValues, normAxis, product, set, shapeValues, type InferRule } from './context.js';

export const rules: readonly InferRule[] = [
  {
    ops: ['Transpose'],
    infer: ({ xt, out, A }) => {
      const s = xt.shape;
      const perm = A.ints('perm', s ? s.map((_, i) => s.length - 1 - i) : []);
      set(out, { elemType: xt.elemType, shape: s ? perm.map((p) => s[p]!) : undefined });
    },
  },
  {
    ops: ['Reshape'],
    infer: ({ node, x, xt, out, A, constIn }) => {
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
    },
  },
  {
    ops: ['Flatten'],
    infer: ({ xt, out, A }) => {
      const s = xt.shape;
      const axis = s ? normAxis(A.int('axis', 1), s.length) : 1;
      set(out, { elemType: xt.elemType, shape: s ? [product(s.slice(0, axis)), product(s.slice(axis))] : [null, null] });
    },
  },
  {
    ops: ['Squeeze', 'Unsqueeze'],
    infer: ({ node, x, xt, out, A, constIn, opset, op }) => {
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
    },
  },
  {
    ops: ['Expand'],
    infer: ({ node, xt, out, constIn }) => {
      // Without the target's values, its length still fixes the output rank.
      const len = node.inputs[1]?.type.shape?.[0];
      const target = constIn(1) ?? (typeof len === 'number' ? Array.from({ length: len }, (): Dim => null) : undefined);
      set(out, { elemType: xt.elemType, shape: target ? broadcastShapes([xt.shape, target]) : undefined });
    },
  },
  {
    ops: ['Tile', 'Pad'],
    infer: ({ xt, out }) => {
      set(out, { elemType: xt.elemType, shape: xt.shape?.map(() => null) });
    },
  },
  {
    ops: ['Shape'],
    infer: ({ xt, out, A }) => {
      const s = xt.shape;
      const r = s?.length;
      const start = r !== undefined ? normAxis(A.int('start', 0), r) : 0;
      const end = r !== undefined ? (A.has('end') ? normAxis(A.int('end'), r) : r) : 0;
      set(out, { elemType: DataType.INT64, shape: [r !== undefined ? end - start : null] });
      if (s && out) shapeValues.set(out, s.slice(start, end));
    },
  },
  {
    ops: ['Size'],
    infer: ({ out }) => {
      set(out, { elemType: DataType.INT64, shape: [] });
    },
  },
  {
    ops: ['Range'],
    infer: ({ xt, out, constIn }) => {
      // Range(0, n, 1) has n elements: position ids keep the symbolic sequence length.
      const [start, limit, delta] = [constIn(0)?.[0], constIn(1)?.[0], constIn(2)?.[0]];
      set(out, { elemType: xt.elemType, shape: [start === 0 && delta === 1 && limit !== undefined ? limit : null] });
    },
  },
  {
    ops: ['NonZero'],
    infer: ({ xt, out }) => {
      set(out, { elemType: DataType.INT64, shape: [xt.shape?.length ?? null, null] });
    },
  },
];
