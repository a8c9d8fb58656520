/**
 * Slice (opset >= 10 form: starts, ends, axes, steps as inputs): dx is zeros with dy written back where the
 * slice read.
 *
 * - Step-1 slices with constant starts/ends/axes: dx = Pad(dy, pads). On a static dim the pads come from
 *   the clamped start/end. On a symbolic dim one side is known — a start of 0 (or below -2^31) clamps to 0,
 *   an end >= 2^31-1 (exporters write INT64_MAX) clamps to the dim, else a start > 0 or an end < 0 is the
 *   pad itself — and the other side is Shape(x) - Shape(y) minus it.
 * - Everything else (run-time starts/ends, steps != 1, negative steps, clamping on unknown dims): Slice's own
 *   semantics locate the elements. idx = Reshape(Range(0, Size(x)), Shape(x)) numbers x's elements; the
 *   same Slice of idx gives the flat positions dy came from (each at most once), and
 *   dx = Reshape(ScatterND(zeros[Size(x)], positions[:, None], dy.flat), Shape(x)).
 */
import { DataType } from '../../onnx/dtype.js';
import type { Dim, Value } from '../../ir/graph.js';
import { knownIntValues } from '../../ir/infer.js';
import type { GradContext, GradRule } from '../rule.js';
import { shapeOf, staticDims, typedLike, zerosOfShape } from './reshape.js';

/** Starts/ends beyond these bounds clamp to 0 / the dim for every realistic dim. */
const BIG = 2 ** 31 - 1;

const numbers = (v: Value | null | undefined): number[] | undefined => {
  if (!v) return undefined;
  const k = knownIntValues(v);
  return k && k.every((d): d is number => typeof d === 'number') ? k : undefined;
};

/** Pads (begin..., end...) for a step-1 slice, with null where only the run-time rest is known. */
function staticPads(c: GradContext): { begin: (number | null)[]; end: (number | null)[] } | undefined {
  const x = c.x(0);
  const xs = x.type.shape;
  if (!xs) return undefined;
  const rank = xs.length;
  const inp = c.node.inputs;
  const starts = numbers(inp[1]);
  const ends = numbers(inp[2]);
  const axes = inp[3] ? numbers(inp[3]) : starts?.map((_, i) => i);
  const steps = inp[4] ? numbers(inp[4]) : starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps) return undefined;
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) return undefined;
  if (steps.some((s) => s !== 1)) return undefined;
  const begin: (number | null)[] = xs.map(() => 0);
  const end: (number | null)[] = xs.map(() => 0);
  for (let i = 0; i < starts.length; i++) {
    const a = axes[i]! < 0 ? axes[i]! + rank : axes[i]!;
    if (a < 0 || a >= rank) return undefined;
    const d: Dim = xs[a]!;
    const st = starts[i]!;
    const en = ends[i]!;
    if (typeof d === 'number') {
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
      const s = clamp(st);
      const e = Math.max(clamp(en), s);
      begin[a] = s;
      end[a] = d - e;
    } else {
      // One side known; the other is the rest of Shape(x) - Shape(y). A start >= 0 (or an end < 0) is the
      // pad itself unless the dim is too short, and then the slice is empty and the other side's negative
      // pad (ONNX Pad crops on negative pads) brings the result back to the dim.
      const fromZero = st === 0 || st <= -BIG;
      const toEnd = en >= BIG;
      if (fromZero || toEnd) {
        begin[a] = fromZero ? 0 : null;
        end[a] = toEnd ? 0 : null;
      } else if (st > 0 && st < BIG) {
        begin[a] = st;
        end[a] = null;
      } else if (en < 0 && en > -BIG) {
        begin[a] = null;
        end[a] = -en;
      } else return undefined;
    }
  }
  return { begin, end };
}

function padBack(c: GradContext, dy: Value, p: { begin: (number | null)[]; end: (number | null)[] }): Value {
  const { b } = c;
  const x = c.x(0);
  const { begin, end } = p;
  if ([...begin, ...end].every((v) => v === 0)) return dy;
  let pads: Value;
  if ([...begin, ...end].every((v) => v !== null)) pads = b.int64([...begin, ...end] as number[]);
  else {
    // Total padding per axis is diff = Shape(x) - Shape(y); the unknown side is diff minus the known one.
    const diff = b.sub(b.shape(x), b.shape(c.y(0)));
    let beginV: Value;
    if (begin.every((v) => v !== null)) beginV = b.int64(begin as number[]);
    else if (end.every((v) => v !== null)) beginV = b.sub(diff, b.int64(end as number[]));
    else {
      // begin = diff * K + C, K = 1 where the begin is unknown (then C = -end), else K = 0 and C = begin.
      const k = begin.map((v) => (v === null ? 1 : 0));
      const cst = begin.map((v, i) => (v === null ? -end[i]! : v));
      beginV = b.add(b.mul(diff, b.int64(k)), b.int64(cst));
    }
    const endV = end.every((v) => v !== null) ? b.int64(end as number[]) : b.sub(diff, beginV);
    pads = b.op('Concat', [beginV, endV], { axis: 0 });
  }
  return b.op('Pad', [dy, pads]);
}

/** General path: scatter dy to the flat positions the same Slice selects from an index tensor. */
function scatterBack(c: GradContext, dy: Value): Value {
  const { b, node } = c;
  const x = c.x(0);
  const xs = staticDims(x);
  const shape = shapeOf(b, x);
  const size = xs ? b.int64([xs.reduce((p, q) => p * q, 1)], true) : b.op('Size', [x]);
  const range = b.op('Range', [b.int64([0], true), size, b.int64([1], true)]);
  range.type = { elemType: DataType.INT64, shape: [xs ? xs.reduce((p, q) => p * q, 1) : null] };
  const idx = b.reshape(range, shape);
  const picked = b.op('Slice', [idx, ...node.inputs.slice(1)]);
  const positions = b.reshape(picked, [-1, 1]);
  const flatShape = xs ? b.int64([xs.reduce((p, q) => p * q, 1)]) : b.reshape(size, [1]);
  const zeros = zerosOfShape(b, flatShape, x);
  const scattered = b.op('ScatterND', [zeros, positions, b.reshape(dy, [-1])]);
  return b.reshape(scattered, shape);
}

const slice: GradRule = {
  ops: ['Slice'],
  differentiable: [0],
  backward: (c) => {
    if (!c.needs(0)) return [null];
    const dy = c.dy(0)!;
    const pads = staticPads(c);
    const g = pads ? padBack(c, dy, pads) : scatterBack(c, dy);
    return [g === dy ? g : typedLike(g, c.x(0))];
  },
};

export const rules: readonly GradRule[] = [slice];
