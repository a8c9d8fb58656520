/**
 * One update for many small parameters.
 *
 * Every node of an optimizer's update is a kernel, and ONNX Runtime's CPU executor spends a few microseconds
 * on each besides its arithmetic. A BERT has dozens of biases and LayerNorm vectors of a few hundred or
 * thousand values: with AdamW's 13 nodes each, that is hundreds of kernels per step that do almost nothing
 * (BERT-base student: 841 kernels on vectors, 4.4 ms of kernel time plus the executor's gaps). Concatenated,
 * with their gradients and state, they take one update of 13 nodes, and Split hands each parameter its
 * part back. The arithmetic per element is unchanged, so the results are those of separate updates bit for
 * bit; the parameters keep their own names, shapes and interface.
 *
 * The concatenations and splits copy the group seven times (four vectors in, three out). For a tensor of n
 * float32 values that costs about as much as the 13 kernels it saves when n is around 30 k, hence the limit
 * on size; the limit on members keeps every Concat and Split within what any WebGPU device offers.
 */
import type { Builder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { elementCount } from '../onnx/tensor.js';
import type { Optimizer, ParamUpdate, StepScalars } from './optimizer.js';

/** Parameters of at most this many elements share one update with others of their dtype. */
export const GROUP_MAX_ELEMENTS = 1 << 15;
/**
 * Members of one group. ORT 1.30's WebGPU Split binds its input and each output as a storage buffer, and
 * WebGPU guarantees only 8 per shader stage (maxStorageBuffersPerShaderStage; an H200 offered 16, and a
 * group of 24 failed there with "Too many storage buffers in shader"). Its Concat ran 25 inputs there, but
 * 7 keeps both within 8 on any device.
 */
export const GROUP_MAX_MEMBERS = 7;

/** Whether a parameter of this shape is updated in a group rather than on its own. */
export const groupable = (shape: readonly number[]): boolean => elementCount(shape) <= GROUP_MAX_ELEMENTS;

/** `items` cut into groups of at most GROUP_MAX_MEMBERS, in order; a group of one is no group. */
export function memberGroups<T>(items: readonly T[]): T[][] {
  const groups: T[][] = [];
  for (let i = 0; i < items.length; i += GROUP_MAX_MEMBERS) groups.push(items.slice(i, i + GROUP_MAX_MEMBERS));
  return groups.filter((g) => g.length > 1);
}

/**
 * `optimizer.apply` once over the concatenation of `members` (parameters of one dtype, with their own
 * `shapes`); returns each member's new parameter and state in its own shape.
 */
export function groupedUpdate(
  b: Builder,
  optimizer: Optimizer,
  scalars: StepScalars,
  members: readonly ParamUpdate[],
  shapes: readonly (readonly number[])[],
): { param: Value; state: Value[] }[] {
  const sizes = shapes.map(elementCount);
  const flat = (v: Value, k: number) => (shapes[k]!.length === 1 ? v : b.reshape(v, [sizes[k]!]));
  const joined = (pick: (u: ParamUpdate) => Value) => b.op('Concat', members.map((u, k) => flat(pick(u), k)), { axis: 0 }, 'update_group/concat');
  const stateCount = members[0]!.state.length;
  const r = optimizer.apply(b, scalars, {
    param: joined((u) => u.param),
    grad: joined((u) => u.grad),
    state: Array.from({ length: stateCount }, (_, i) => joined((u) => u.state[i]!)),
    decay: members[0]!.decay,
  });
  const splitSizes = b.int64(sizes);
  const parts = (v: Value) =>
    b.opN('Split', [v, splitSizes], members.length, { axis: 0 }, 'update_group/split').map((part, k) => (shapes[k]!.length === 1 ? part : b.reshape(part, shapes[k]!)));
  const params = parts(r.param);
  const states = r.state.map(parts);
  return members.map((_, k) => ({ param: params[k]!, state: states.map((s) => s[k]!) }));
}
