/** Inference rules: elementwise ops, comparisons, casts and Where: the output takes the (broadcast) input shape. */
import { DataType } from '../../onnx/dtype.js';
import { hasTrait, opsWith } from '../../onnx/ops.js';
import type { Dim } from '../graph.js';
import { type InferContext, type InferRule, broadcastShapes, knownIntValues, set, shapeValues } from './context.js';

/** Integer arithmetic on tracked shape values (Div truncates, as int64 Div does). */
function arith(op: string, a: number, b: number): number | null {
  switch (op) {
    case 'Add': return a + b;
    case 'Sub': return a - b;
    case 'Mul': return a * b;
    case 'Div': return b !== 0 ? Math.trunc(a / b) : null;
    default: return null;
  }
}

/** Broadcasting ops: numpy broadcasting of every input; comparisons give booleans. */
function inferBroadcast({ node, xt, out, op, constIn }: InferContext): void {
  const compare = hasTrait(op, 'comparison');
  const shape = broadcastShapes(node.inputs.map((v) => v?.type.shape));
  set(out, { elemType: compare ? DataType.BOOL : xt.elemType, shape });
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
  if (!compare && vals.length === 2 && vals[0] && vals[1] && out) {
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
}

export const rules: readonly InferRule[] = [
  {
    // Unary ops, activations, softmaxes and scatters: the output is typed and shaped as the first input.
    ops: [...opsWith('sameTypeAsInput')],
    infer: ({ x, xt, out, op }) => {
      set(out, { elemType: xt.elemType, shape: xt.shape });
      if (op === 'Identity' && x) { const k = knownIntValues(x); if (k && out) shapeValues.set(out, k); }
    },
  },
  { ops: [...opsWith('broadcast'), ...opsWith('comparison')], infer: inferBroadcast },
  {
    ops: ['Dropout'],
    infer: ({ node, xt, out }) => {
      set(out, { elemType: xt.elemType, shape: xt.shape });
      set(node.outputs[1], { elemType: DataType.BOOL, shape: xt.shape });
    },
  },
  {
    ops: ['Cast'],
    infer: ({ x, xt, out, A }) => {
      set(out, { elemType: A.int('to'), shape: xt.shape });
      if (x && out) { const k = knownIntValues(x); if (k) shapeValues.set(out, k); }
    },
  },
  {
    ops: ['CastLike'],
    infer: ({ node, xt, out }) => {
      set(out, { elemType: node.inputs[1]?.type.elemType, shape: xt.shape });
    },
  },
  {
    ops: ['IsNaN', 'IsInf'],
    infer: ({ xt, out }) => {
      set(out, { elemType: DataType.BOOL, shape: xt.shape });
    },
  },
  {
    ops: ['Where'],
    infer: ({ node, out, constIn }) => {
      const shape = broadcastShapes(node.inputs.map((v) => v?.type.shape));
      set(out, { elemType: node.inputs[1]?.type.elemType, shape });
      const [c, a, b] = [constIn(0), constIn(1), constIn(2)];
      if (out && c && a && b && c.every((v) => v === 0 || v === 1)) {
        const pick = (k: Dim[], i: number) => k[k.length === 1 ? 0 : i]!;
        shapeValues.set(out, c.map((v, i) => (v === 1 ? pick(a, i) : pick(b, i))));
      }
    },
  },
];
