/**
 * Stage 6, update plan: each trained parameter becomes an interface input with its optimizer state, and gets
 * its update kind: chunked (large parameters, in a Scan over cache-sized chunks: optim/chunked.ts), grouped
 * (small ones, one update over the concatenation of up to 7 of one dtype and decay: optim/grouped.ts), or plain.
 */
import type { Value } from '../../ir/graph.js';
import { dtypeName } from '../../onnx/dtype.js';
import type { TensorProto } from '../../onnx/proto.js';
import { type ChunkPlan, chunkPlan } from '../../optim/chunked.js';
import { groupable, memberGroups } from '../../optim/grouped.js';
import type { ParamUpdate } from '../../optim/optimizer.js';
import { stateName } from '../contract.js';
import type { Accumulated } from './accumulation.js';
import { type StepContext, addInput } from './context.js';
import type { Gradients } from './gradients.js';

export interface PlannedUpdate {
  p: Value;
  /** The parameter's value in the student (the initial value for training). */
  initial: TensorProto;
  shape: number[];
  dtype: string;
  /** Chunks of a chunked update, or null. */
  plan: ChunkPlan | null;
  /** The shape the step takes and returns the parameter and its state in ([chunks, length] when chunked). */
  ioShape: number[];
  update: ParamUpdate;
  decay: boolean;
}

export interface UpdatePlan {
  /** One entry per trained parameter, in `trained` order. */
  entries: PlannedUpdate[];
  /** Groups of small parameters sharing one update. */
  groups: PlannedUpdate[][];
}

export function planUpdates(ctx: StepContext, { trained }: Gradients, { sums }: Accumulated): UpdatePlan {
  const { g, b, options } = ctx;
  const specs = options.optimizer.stateSpecs();
  const entries = trained.map((p, k): PlannedUpdate => {
    const initial = g.promoteToInput(p);
    const shape = initial.dims.map(Number);
    const plan = options.chunkedUpdate === false ? null : chunkPlan(shape);
    // A chunked parameter and its state travel as [chunks, length]; the model reads the parameter through a
    // Reshape to its own shape, which ORT runs as a view (docs/TRAINING-STEP.md, "Chunked and grouped updates").
    const ioShape = plan ? [plan.chunks, plan.length] : shape;
    if (plan) {
      const view = g.newValue(`${b.prefix}${p.name}/view`);
      view.type = { elemType: initial.dataType, shape };
      g.replaceAllUses(p, view);
      b.added.push(g.addNode('Reshape', [p, b.int64(shape)], [view], [], { name: `${b.prefix}${p.name}/view` }));
      p.type = { elemType: initial.dataType, shape: ioShape };
    }
    const stateIn = specs.map((s) => addInput(g, stateName(p.name, s.suffix), { elemType: initial.dataType, shape: ioShape }));
    const decay = !options.noDecay?.includes(p.name);
    const update: ParamUpdate = { param: p, grad: plan ? b.reshape(sums[k]!, ioShape) : sums[k]!, state: stateIn, decay };
    return { p, initial, shape, dtype: dtypeName(initial.dataType), plan, ioShape, update, decay };
  });
  const byKind = new Map<string, PlannedUpdate[]>(); // by dtype and weight decay: one update rule per group
  if (options.groupedUpdate !== false) {
    for (const e of entries) {
      if (e.plan || !groupable(e.shape)) continue;
      const key = `${e.dtype}/${e.decay}`;
      const group = byKind.get(key);
      if (group) group.push(e);
      else byKind.set(key, [e]);
    }
  }
  return { entries, groups: [...byKind.values()].flatMap(memberGroups) };
}
