/**
 * An elementwise update run chunk by chunk, so that its intermediates stay in the CPU's cache.
 *
 * An optimizer update is a chain of elementwise nodes (13 for AdamW), and ONNX Runtime runs each one over the
 * whole tensor before the next starts. For a tensor larger than the last-level cache, every node then streams
 * its inputs and its output through main memory: the 94 MB word embedding of a BERT-base student makes about
 * 35 trips to DRAM per step for AdamW alone. Run as an ONNX `Scan` over chunks of a few MB, the same chain
 * reads each chunk of the parameter, gradient and state once from memory and does the rest in cache. Measured
 * on the 2-core bench machine (docs/PERFORMANCE.md): AdamW on a 30522 x 768 tensor in isolation, 40-60 ms as
 * plain nodes against 27-29 ms as a Scan over 2-4 MB chunks.
 *
 * The step graph carries such a parameter and its optimizer state as [chunks, length] (the manifest's
 * `ioShape`) and the model reads the parameter through a Reshape, which ORT runs as a view; the Scan's results
 * are the new values in that same shape. Reshaping them back instead would cost a copy: ORT copies a Reshape
 * whose output is a graph (or Loop-body) output, 32 ms per step on BERT-base. Per-step scalars (step size,
 * bias corrections, clipping scale) enter the body as Scan state variables that it passes through unchanged,
 * so the body reads nothing from the outer scope and the training loop can rename the step graph's values
 * freely.
 */
import { makeAttribute } from '../ir/attributes.js';
import { Builder } from '../ir/builder.js';
import { graphToProto } from '../ir/convert.js';
import { Graph, type Value } from '../ir/graph.js';
import { elementCount } from '../onnx/tensor.js';
import type { StepScalars } from './optimizer.js';

/** Tensors with fewer elements than this are updated by plain nodes: they fit in cache as they are. */
export const CHUNK_MIN_ELEMENTS = 1 << 21;
/**
 * The chunk length aimed at: 4 MB of float32, so the handful of chunk-sized intermediates fit in a 32 MB L3.
 * On base, 2 MB chunks ran the body's nodes 5 % faster, but twice as many iterations (about 100-130 us of
 * overhead each) made the update 4.5 ms slower per step in all.
 */
const CHUNK_TARGET = 1 << 20;
/** Allowed chunk lengths: 0.5 to 8 MB of float32. */
const CHUNK_RANGE: readonly [number, number] = [1 << 17, 1 << 21];

/** A tensor of `chunks * length` elements viewed as [chunks, length]. */
export interface ChunkPlan {
  chunks: number;
  length: number;
}

/**
 * How to cut a tensor of static shape `dims` into equal chunks: the divisor of its size in the allowed range
 * closest (by ratio) to the target length. Null when the size is unknown, too small to be worth it, or has
 * no divisor in range (Scan needs equal chunks).
 */
export function chunkPlan(dims: readonly (number | string | null)[] | undefined): ChunkPlan | null {
  if (!dims || dims.some((d) => typeof d !== 'number')) return null;
  const n = elementCount(dims as number[]);
  if (!Number.isSafeInteger(n) || n < CHUNK_MIN_ELEMENTS) return null;
  let best: number | null = null;
  const score = (d: number) => Math.abs(Math.log(d / CHUNK_TARGET));
  const consider = (d: number) => {
    if (d >= CHUNK_RANGE[0] && d <= CHUNK_RANGE[1] && (best === null || score(d) < score(best))) best = d;
  };
  for (let d = 1; d * d <= n; d++) {
    if (n % d === 0) {
      consider(d);
      consider(n / d);
    }
  }
  return best === null ? null : { chunks: n / best, length: best };
}

/**
 * `body` run over every chunk of `tensors` (each shaped [chunks, length]) by one Scan node; returns the
 * Scan's results, shaped [chunks, length] as well. `scalars` reach the body as Scan state variables, which it
 * hands back unchanged, so the body reads nothing from the outer scope. `name` prefixes the node, the body
 * and the body's values.
 */
export function scanChunks(
  b: Builder,
  name: string,
  plan: ChunkPlan,
  scalars: StepScalars,
  tensors: Value[],
  body: (bb: Builder, scalars: StepScalars, chunks: Value[]) => Value[],
): Value[] {
  const outer = b.graph;
  const prefix = `${outer.freshName(`${b.prefix}${name}`)}/`;
  const keys = Object.keys(scalars);
  const g = new Graph(`${prefix}body`);
  const scalarsIn = keys.map((k) => g.addInput(`${prefix}${k}`, { elemType: scalars[k]!.type.elemType, shape: [] }));
  const chunksIn = tensors.map((t, i) => g.addInput(`${prefix}chunk${i}`, { elemType: t.type.elemType, shape: [plan.length] }));
  const bb = new Builder(g, { opset: b.opset, prefix });
  const results = body(bb, Object.fromEntries(keys.map((k, i) => [k, scalarsIn[i]!])), chunksIn)
    .map((r) => (r.isGraphInput ? bb.op('Identity', [r]) : r));
  g.setOutputs([...scalarsIn.map((s) => bb.op('Identity', [s], {}, 'pass')), ...results]);
  for (const v of g.values.keys()) outer.reserveName(v);

  const scalarOuts = keys.map((k) => outer.newValue(`${prefix}${k}_out`));
  const resultOuts = results.map(() => outer.newValue(`${prefix}out`));
  const scan = outer.addNode('Scan', [...keys.map((k) => scalars[k]!), ...tensors], [...scalarOuts, ...resultOuts], [
    makeAttribute('body', graphToProto(g)),
    makeAttribute('num_scan_inputs', tensors.length),
  ], { name: `${prefix}scan` });
  b.added.push(scan);
  scalarOuts.forEach((v, i) => (v.type = { ...scalars[keys[i]!]!.type }));
  resultOuts.forEach((v, i) => (v.type = { elemType: results[i]!.type.elemType, shape: [plan.chunks, plan.length] }));
  return resultOuts;
}
