/**
 * Row narrowing: compute only the rows a model reads.
 *
 * A sequence classifier reads one position of its last hidden state: BERT's pooler and DistilBERT's head take
 * `hidden[:, 0]` (a Gather with a constant index on the sequence axis). Everything of the last layer that is
 * computed position by position (the queries, their scores, softmax and context, the output projection, the
 * residual adds, both LayerNorms, the feed-forward block) is then needed for that one position only; the
 * keys and values still need every position. This pass turns such a Gather into a one-row Slice and moves
 * the Slice up through the ops that compute each row from the same row of their inputs, as long as nothing
 * else reads the full tensor. On a 6-layer student that is about 14 % of the encoder's work, forward and
 * backward, and the gradients are the same ones: rows nobody reads contribute nothing to the loss. Where
 * results must not depend on padding, the attention stays whole (NarrowOptions.exactAcrossPadding).
 *
 * Every move is checked by the op's own semantics (which input axis each output axis comes from, which axes
 * an op mixes); anything not proven stays as it was, so the pass never changes what the graph computes.
 */
import { makeAttribute } from './attributes.js';
import { Builder } from './builder.js';
import { constantNumbers } from './constants.js';
import type { Dim, Graph, Node, Value } from './graph.js';
import { inferNode, inferTypes } from './infer.js';
import { hasTrait, isStandardDomain } from '../onnx/ops.js';
import { eliminateDeadCode, type GraphPass } from './passes.js';

/** A one-row selection: rows [start, start + 1) of `axis`. */
interface Row {
  axis: number;
  start: number;
}

/** Which inputs to narrow (input index -> its axis), and replacements for other inputs. */
interface Plan {
  narrow: Map<number, number>;
  replace?: Map<number, Value>;
}

/** A Slice end past any dim (ORT clamps it); 2^63 - 1 itself does not survive a float64 number. */
const TO_THE_END = Number.MAX_SAFE_INTEGER;
const norm = (a: number, rank: number) => (a < 0 ? a + rank : a);

export interface NarrowReport {
  /** Row selections (constant-index Gathers) found. */
  selections: number;
  /** Nodes that now compute one row instead of all of them. */
  narrowed: number;
}

class Narrower {
  private readonly slices = new Set<Node>();
  private readonly byKey = new Map<string, Value>();
  /** Values already narrowed, with the row they now hold. */
  private readonly rowOfValue = new Map<Value, Row>();
  private count = 0;

  private readonly b: Builder;

  constructor(private readonly g: Graph, private readonly opset: number, private readonly exactAcrossPadding: boolean) {
    this.b = new Builder(g, { opset, prefix: 'narrow/' });
  }

  get narrowed(): number {
    return this.count;
  }

  /** x[..., start:start+1, ...] on `axis`, one Slice per (value, row) shared by every reader. */
  select(x: Value, row: Row): Value {
    const key = `${x.name}|${row.axis}|${row.start}`;
    const hit = this.byKey.get(key);
    if (hit) return hit;
    const end = row.start === -1 ? TO_THE_END : row.start + 1;
    const { b } = this;
    const out = b.op('Slice', [x, b.int64([row.start]), b.int64([end]), b.int64([row.axis])], {}, `${x.name}/row`);
    // The row exists (a reader of it was found), so the axis is 1 even where the dim is symbolic.
    const shape = x.type.shape;
    if (shape) out.type = { ...out.type, shape: shape.map((d, i) => (i === row.axis ? 1 : d)) };
    this.slices.add(out.producer!);
    this.byKey.set(key, out);
    return out;
  }

  /** Rewrites a constant-index Gather into Slice (+ Squeeze for a scalar index); returns whether it did. */
  seed(gather: Node): boolean {
    const data = gather.inputs[0];
    const idx = gather.inputs[1];
    const rank = data?.rank;
    if (!data || !idx || rank === undefined || rank < 2 || !data.producer) return false;
    const k = constantNumbers(idx);
    const idxRank = idx.rank;
    if (!k || k.length !== 1 || (idxRank !== 0 && idxRank !== 1)) return false;
    const axis = norm(gather.attrs.int('axis', 0), rank);
    const start = k[0]!;
    if (start < -1 && typeof data.type.shape?.[axis] !== 'number') return false;
    const out = gather.output(0);
    this.g.removeNode(gather);
    const row = this.select(data, { axis, start: start < -1 ? start + (data.type.shape![axis] as number) : start });
    if (idxRank === 1) {
      this.g.addNode('Identity', [row], [out], [], { name: gather.name });
    } else {
      // Into the Gather's own output value, which may be a graph output (Builder.squeeze makes a new one).
      const squeeze = this.opset >= 13
        ? this.g.addNode('Squeeze', [row, this.b.int64([axis])], [out], [], { name: gather.name })
        : this.g.addNode('Squeeze', [row], [out], [makeAttribute('axes', [axis])], { name: gather.name });
      inferNode(squeeze, this.opset);
    }
    return true;
  }

  /** Moves every selection up as far as the ops allow; repeats until nothing moves. */
  run(): void {
    let moved = true;
    while (moved) {
      moved = false;
      for (const s of [...this.slices]) if (this.lift(s)) moved = true;
    }
  }

  /** Narrows the producer of the selection's input, if the selection is its only reader. */
  private lift(slice: Node): boolean {
    const v = slice.input(0);
    const node = v.producer;
    if (!node || !isStandardDomain(node.domain)) return false;
    if (v.uses.length !== 1 || this.g.outputs.includes(v)) return false;
    if (node.outputs.some((o) => o && o !== v && (o.uses.length > 0 || this.g.outputs.includes(o)))) return false;
    const row = this.rowOf(slice);
    const plan = this.plan(node, v, row);
    if (!plan) return false;
    // An input narrowed before holds its row already; one narrowed to another row cannot give this one.
    const held = (i: number, axis: number) => {
      const r = this.rowOfValue.get(node.input(i));
      return r && (r.axis !== axis || r.start !== row.start) ? undefined : r;
    };
    if ([...plan.narrow].some(([i, axis]) => this.rowOfValue.has(node.input(i)) && !held(i, axis))) return false;
    for (const [i, axis] of plan.narrow) {
      if (!held(i, axis)) this.g.setNodeInput(node, i, this.select(node.input(i), { axis, start: row.start }));
    }
    for (const [i, value] of plan.replace ?? []) this.g.setNodeInput(node, i, value);
    const shape = v.type.shape;
    if (shape) v.type = { ...v.type, shape: shape.map((d, i) => (i === row.axis ? 1 : d)) };
    // A declared shape (value_info) would now be wrong, and ORT plans buffers by it.
    this.g.valueInfo.delete(v.name);
    this.rowOfValue.set(v, row);
    const out = slice.output(0);
    this.g.removeNode(slice);
    this.slices.delete(slice);
    this.byKey.delete(`${v.name}|${row.axis}|${row.start}`);
    this.g.replaceAllUses(out, v);
    this.count++;
    return true;
  }

  private rowOf(slice: Node): Row {
    const [start] = constantNumbers(slice.inputs[1])!;
    const [axis] = constantNumbers(slice.inputs[3])!;
    return { axis: axis!, start: start! };
  }

  /** How `node` computes row `row` of `v`: from which rows of which inputs, or undefined if not provable. */
  private plan(node: Node, v: Value, row: Row): Plan | undefined {
    const rank = v.rank;
    if (rank === undefined) return undefined;
    const { axis } = row;
    const op = node.opType;
    if (hasTrait(op, 'elementwise')) return this.broadcastPlan(node, rank, row, node.inputs.map((_, i) => i));
    switch (op) {
      case 'Softmax': case 'LogSoftmax': {
        // Opset 13 normalizes along one axis; earlier ones flatten everything from `axis` on into it.
        const a = norm(node.attrs.int('axis', this.opset >= 13 ? -1 : 1), rank);
        return (this.opset >= 13 ? axis !== a : axis < a) ? { narrow: new Map([[0, axis]]) } : undefined;
      }
      case 'LayerNormalization': {
        const a = norm(node.attrs.int('axis', -1), rank);
        return axis < a ? { narrow: new Map([[0, axis]]) } : undefined;
      }
      case 'Transpose': {
        const perm = node.attrs.has('perm') ? node.attrs.ints('perm') : [...Array(rank).keys()].reverse();
        return { narrow: new Map([[0, perm[axis]!]]) };
      }
      case 'MatMul': return this.matmulPlan(node, rank, row);
      case 'Gemm': {
        if (axis !== 0) return undefined;
        const plan = this.broadcastPlan(node, rank, row, node.inputs[2] ? [2] : []);
        plan?.narrow.set(0, node.attrs.int('transA', 0) ? 1 : 0);
        return plan;
      }
      case 'Reshape': return this.reshapePlan(node, v, row);
      default: return undefined;
    }
  }

  /**
   * Inputs broadcast against the output (right-aligned): each one with the axis gets narrowed; one whose dim
   * there is 1 is read whole. A dim not known to be 1 or not is narrowed when it is the only input with the
   * axis (the output's rows are then its rows), or for row 0 or -1, which a size-1 dim has as well.
   */
  private broadcastPlan(node: Node, rank: number, row: Row, inputs: number[]): Plan | undefined {
    const narrow = new Map<number, number>();
    let unknown = false;
    for (const i of inputs) {
      const x = node.inputs[i];
      if (!x) continue;
      const r = x.rank;
      if (r === undefined) return undefined;
      const j = row.axis - (rank - r);
      if (j < 0) continue;
      const d: Dim | undefined = x.type.shape![j];
      if (d === 1) continue;
      if (d === null || d === undefined) unknown = true;
      narrow.set(i, j);
    }
    if (unknown && narrow.size > 1 && row.start !== 0 && row.start !== -1) return undefined;
    return { narrow };
  }

  private matmulPlan(node: Node, rank: number, row: Row): Plan | undefined {
    const [a, b] = [node.inputs[0], node.inputs[1]];
    const [ra, rb] = [a?.rank, b?.rank];
    if (ra === undefined || rb === undefined || ra < 2 || rb < 2 || rank < 2) return undefined;
    if (row.axis === rank - 2) {
      // One row times a matrix over a run-time axis (attention's probabilities times values, summed over the
      // padded sequence) is where padding would show: ORT's CPU kernel for a single row sums in an order that
      // depends on that axis's length. Products over fixed axes (the projections) do not.
      if (this.exactAcrossPadding && typeof a!.type.shape![ra - 1] !== 'number') return undefined;
      return { narrow: new Map([[0, ra - 2]]) };
    }
    if (row.axis === rank - 1) return { narrow: new Map([[1, rb - 1]]) };
    // A batch axis: both operands broadcast over it, as elementwise inputs do.
    return this.broadcastPlan(node, rank, row, [0, 1]);
  }

  /**
   * A Reshape keeps a row when it leaves every axis up to and including the row's alone: then the row of
   * the output is the same row of the input, and the target shape only needs a 1 on that axis.
   */
  private reshapePlan(node: Node, v: Value, row: Row): Plan | undefined {
    const x = node.inputs[0];
    const target = node.inputs[1];
    const xs = x?.type.shape;
    const ys = v.type.shape;
    if (!x || !target || !xs || !ys || row.axis >= xs.length) return undefined;
    for (let i = 0; i <= row.axis; i++) {
      const [dx, dy] = [xs[i], ys[i]];
      if (dx === null || dx === undefined || dx !== dy) return undefined;
    }
    // The new target: the old one with an explicit 1 on the row's axis. Every other entry stays as it was, so
    // 0 and -1 keep their meaning under either allowzero, and shape inference still reads the values.
    const { b } = this;
    const parts: Value[] = [];
    if (row.axis > 0) parts.push(b.op('Slice', [target, b.int64([0]), b.int64([row.axis])], {}, 'target'));
    parts.push(b.int64([1]));
    if (row.axis < ys.length - 1) parts.push(b.op('Slice', [target, b.int64([row.axis + 1]), b.int64([ys.length])], {}, 'target'));
    const shape = b.op('Concat', parts, { axis: 0 }, 'target');
    return { narrow: new Map([[0, row.axis]]), replace: new Map([[1, shape]]) };
  }
}

export interface NarrowOptions {
  /** The graph's ai.onnx opset, for the nodes the pass builds and for type inference. */
  opset: number;
  /**
   * Keep results bit for bit independent of how far the inputs are padded (default true): a one-row product
   * over a run-time axis stays whole, so a classifier's attention is not narrowed. A teacher needs this (a
   * resumed run recomputes its logits in batches padded differently); a training step does not, since its
   * backward's sums over the batch and sequence already depend on the padding.
   */
  exactAcrossPadding?: boolean;
  /** Filled in, when given, with the selections found and the nodes narrowed. */
  report?: NarrowReport;
}

/**
 * Narrows `g` in place to the rows its constant-index Gathers read (see the file comment). Outputs other
 * than the ones the caller needs should be dropped first: a full tensor that is also a graph output stays
 * full. Types are (re-)inferred. Returns whether the graph changed.
 */
export const narrowToReadRows: GraphPass<NarrowOptions> = (g, options) => {
  const { opset, report = { selections: 0, narrowed: 0 } } = options;
  inferTypes(g, opset);
  const n = new Narrower(g, opset, options.exactAcrossPadding ?? true);
  report.selections = 0;
  report.narrowed = 0;
  for (const node of [...g.nodes]) {
    if (node.opType === 'Gather' && isStandardDomain(node.domain) && n.seed(node)) report.selections++;
  }
  if (report.selections === 0) return false;
  n.run();
  report.narrowed = n.narrowed;
  const dropped = eliminateDeadCode(g);
  inferTypes(g, opset);
  return report.narrowed > 0 || dropped;
};
