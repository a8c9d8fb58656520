/**
 * Rewrites of a built graph for what GPU execution providers run.
 *
 * `limitFanIn` (every build): ORT's WebGPU kernels bind each input and output of a Concat, Split or Sum as one
 * storage buffer, and WebGPU guarantees only 8 per shader stage. Over that, the native provider refuses the
 * shader and onnxruntime-web's JSEP computes garbage without an error (a 25-input Concat gave grad_norm 0:
 * docs/WEBGPU.md). Wider nodes become trees of nodes within the limit; on the CPU the results are the same
 * (Concat and Split move data; a Sum tree adds in the same order).
 *
 * `lowerForGpu` (gpu builds): ONNX Runtime 1.30's WebGPU provider has no kernel for LogSoftmax, Sum or a float
 * ConstantOfShape, so it ran them on the CPU and copied the activations across and back on every step. They
 * become ops it runs: LogSoftmax as x - max - log(sum(exp(x - max))), Sum as a chain of Adds, ConstantOfShape
 * as an Expand of the constant, and a Slice of booleans (an attention mask narrowed to the rows the logits
 * read) as a Slice of floats between Casts. Int64 shape arithmetic on the host inputs (token ids, masks, labels) stays on
 * the CPU, where ORT puts it on purpose; docs/WEBGPU.md lists what remains there and why.
 */
import { GraphError } from '../errors.js';
import { Builder } from '../ir/builder.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { knownIntValues } from '../ir/infer.js';
import { DataType, isFloatType } from '../onnx/dtype.js';
import { tensorToNumbers } from '../onnx/tensor.js';
import { isStandardDomain } from '../onnx/ops.js';
import { topologicalSort } from '../ir/passes.js';

/** Storage buffers per shader stage that every WebGPU device offers (maxStorageBuffersPerShaderStage). */
export const MAX_STORAGE_BUFFERS = 8;

/** Makes `replacement`'s producer write `node`'s output value instead (graph outputs keep their names), then drops `node`. */
function replaceNode(g: Graph, node: Node, outputs: readonly Value[]): void {
  node.outputs.forEach((old, i) => {
    const fresh = outputs[i];
    if (!old || !fresh || fresh === old) return;
    const producer = fresh.producer;
    if (!producer || old.uses.includes(producer)) {
      g.replaceAllUses(old, fresh);
      return;
    }
    g.removeNode(node);
    g.setNodeOutput(producer, producer.outputs.indexOf(fresh), old);
    old.type = old.type.elemType !== undefined ? old.type : fresh.type;
  });
  g.removeNode(node);
}

/** Values of a constant int64 input (initializer, Constant node or tracked shape arithmetic). */
function constInts(v: Value | null | undefined): number[] | undefined {
  if (!v) return undefined;
  if (v.initializer) return tensorToNumbers(v.initializer);
  const p = v.producer;
  const t = p?.opType === 'Constant' ? p.attrs.tensor('value') : undefined;
  if (t) return tensorToNumbers(t);
  const k = knownIntValues(v);
  return k?.every((d): d is number => typeof d === 'number') ? k : undefined;
}

/** `items` cut into consecutive groups of at most `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface FanInReport {
  /** Nodes split into trees. */
  rewritten: number;
  /** Nodes over the limit that could not be rewritten (a Split of unknown part sizes), by description. */
  left: string[];
}

/**
 * Concat, Sum and Split nodes with more than MAX_STORAGE_BUFFERS inputs plus outputs become trees of such
 * nodes within it (see the file comment). Subgraphs (Loop bodies) are left to their own call.
 */
export function limitFanIn(g: Graph, opset: number, maxBuffers = MAX_STORAGE_BUFFERS): FanInReport {
  const b = new Builder(g, { opset, prefix: 'fan_in/' });
  const width = maxBuffers - 1;
  const report: FanInReport = { rewritten: 0, left: [] };
  for (const node of [...g.nodes]) {
    if (!isStandardDomain(node.domain)) continue;
    const ins = node.inputs.filter((v): v is Value => v !== null);
    if (node.opType === 'Concat' || node.opType === 'Sum') {
      if (ins.length + 1 <= maxBuffers) continue;
      let level = ins;
      while (level.length > width) level = chunks(level, width).map((part) => (part.length === 1 ? part[0]! : b.copyOf(node, part)));
      replaceNode(g, node, [b.copyOf(node, level)]);
      report.rewritten++;
    } else if (node.opType === 'Split') {
      const outs = node.outputs;
      if (outs.length + 1 <= maxBuffers) continue;
      const sizes = splitSizes(node);
      if (!sizes) {
        report.left.push(node.describe());
        continue;
      }
      const axis = node.attrs.int('axis', 0);
      const splitInto = (x: Value, parts: readonly number[][]): Value[] => {
        const sums = parts.map((p) => p.reduce((a, s) => a + s, 0));
        const pieces = opset >= 13 ? b.opN('Split', [x, b.int64(sums)], parts.length, { axis }) : b.opN('Split', [x], parts.length, { axis, split: sums });
        return pieces.flatMap((piece, i) => (parts[i]!.length === 1 ? [piece] : splitInto(piece, groupSizes(parts[i]!, width))));
      };
      const leaves = splitInto(node.inputs[0]!, groupSizes(sizes, width));
      replaceNode(g, node, leaves);
      report.rewritten++;
    }
  }
  if (report.rewritten) topologicalSort(g);
  return report;
}

/** Sizes cut into at most `width` groups of consecutive sizes (each group as its list). */
function groupSizes(sizes: readonly number[], width: number): number[][] {
  const per = Math.ceil(sizes.length / width);
  return chunks(sizes.map((s) => [s]), per).map((g) => g.flat());
}

/** The part sizes of a Split, where the graph fixes them. */
function splitSizes(node: Node): number[] | undefined {
  const given = node.inputs[1] ? constInts(node.inputs[1]) : node.attrs.has('split') ? node.attrs.ints('split') : undefined;
  if (given) return given;
  const x = node.inputs[0];
  const rank = x?.rank;
  const axis = node.attrs.int('axis', 0);
  const dim = rank !== undefined ? x?.type.shape?.[axis < 0 ? axis + rank : axis] : undefined;
  const n = node.outputs.length;
  if (typeof dim !== 'number') return undefined;
  // Equal parts; with num_outputs (opset 18) the last part may be smaller.
  const part = Math.ceil(dim / n);
  return Array.from({ length: n }, (_, i) => Math.max(0, Math.min(part, dim - i * part)));
}

export interface GpuLoweringReport {
  /** Rewritten nodes by op type. */
  rewritten: Record<string, number>;
}

/** Rewrites LogSoftmax, Sum, float ConstantOfShape and boolean Slice into ops GPU providers run (see the file comment). */
export function lowerForGpu(g: Graph, opset: number): GpuLoweringReport {
  const b = new Builder(g, { opset, prefix: 'gpu/' });
  const rewritten: Record<string, number> = {};
  const count = (op: string) => (rewritten[op] = (rewritten[op] ?? 0) + 1);
  for (const node of [...g.nodes]) {
    if (!isStandardDomain(node.domain)) continue;
    if (node.opType === 'LogSoftmax') {
      const x = node.inputs[0]!;
      const axis = node.attrs.int('axis', -1);
      // Shifting by the maximum keeps exp from overflowing, as LogSoftmax kernels do.
      const shifted = b.sub(x, b.reduceMax(x, [axis], true));
      replaceNode(g, node, [b.sub(shifted, b.op('Log', [b.reduceSum(b.op('Exp', [shifted]), [axis], true)]))]);
      count('LogSoftmax');
    } else if (node.opType === 'Sum') {
      const ins = node.inputs.filter((v): v is Value => v !== null);
      if (ins.length === 0) throw new GraphError(`${node.describe()}: Sum without inputs`);
      replaceNode(g, node, [ins.length === 1 ? b.op('Identity', [ins[0]!]) : ins.slice(1).reduce((acc, v) => b.add(acc, v), ins[0]!)]);
      count('Sum');
    } else if (node.opType === 'ConstantOfShape') {
      const value = node.attrs.tensor('value');
      const type = value?.dataType ?? DataType.FLOAT;
      if (!isFloatType(type)) continue;
      const fill = b.scalar(value ? tensorToNumbers(value)[0]! : 0, type);
      replaceNode(g, node, [b.op('Expand', [fill, node.inputs[0]!])]);
      count('ConstantOfShape');
    } else if (node.opType === 'Slice' && node.inputs[0]?.type.elemType === DataType.BOOL && opset >= 10) {
      const [x, ...rest] = node.inputs;
      const sliced = b.op('Slice', [b.op('Cast', [x!], { to: DataType.FLOAT }), ...rest]);
      replaceNode(g, node, [b.op('Cast', [sliced], { to: DataType.BOOL })]);
      count('Slice');
    }
  }
  topologicalSort(g);
  return { rewritten };
}
