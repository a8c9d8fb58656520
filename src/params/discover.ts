/**
 * Parameter discovery: rewrites a student graph, in place, so that each parameter PyTorch trains is exactly
 * one initializer, and says which initializers those are.
 *
 * Exports lose that one-to-one mapping (docs/PARAMETERS.md):
 * - TorchScript's export merges initializers of equal value: in a fresh model every zero bias of one shape
 *   is one tensor read by many nodes (through Identity nodes named after the other parameters). Trained as
 *   one, it is a different model from PyTorch's, which has many.
 * - The dynamo exporter merges them too (no Identity), stores constants (the attention scale, finfo.min) as
 *   float initializers, folds a zero bias into a scalar shared with unrelated arithmetic, and writes a
 *   shared weight once per transposed use.
 * - Both fold `Transpose(weight)` into a new initializer for MatMul, with a generated name.
 *
 * With model.safetensors beside the ONNX file every initializer is matched to HF tensors by value (as is
 * or transposed); each use of a merged initializer is given to the parameter its module path names. Without
 * it, heuristics: a scalar or a tensor read by no weight/bias position is a constant, a constant-valued
 * tensor read by several modules is one parameter per module, and equal non-constant tensors are one tied
 * parameter. A lossless export's sidecar (scripts/tools/export_hf.py) is taken as it is.
 */
import { InputError } from '../errors.js';
import { type Sidecar } from '../export/student.js';
import { transpose2d } from '../export/hf-weights.js';
import type { Model } from '../ir/convert.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { DataType, isFloatType } from '../onnx/dtype.js';
import type { TensorProto } from '../onnx/proto.js';
import { elementCount, makeTensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.js';
import { checkGlobsMatch, matchesAny } from '../util/glob.js';
import type { HfFiles, HfTensor } from './hf-files.js';
import { decays } from './decay.js';
import type { ParameterOrigin, ParameterPlan, PlannedConstant, PlannedParameter } from './plan.js';
import { type Use, isLearnablePosition, roleOf, usesOf } from './uses.js';
import { eliminateDeadCode, topologicalSort } from '../ir/passes.js';

export interface DiscoverOptions {
  /** The ONNX file, for messages. */
  file: string;
  hf: HfFiles;
  /** A lossless export's sidecar: its `parameters` map is the plan. */
  sidecar: Sidecar | null;
  /** Globs of initializers to train although the heuristics call them constants (`--trainable`). */
  trainable?: readonly string[];
  /** The padding token id, to find embedding rows PyTorch never updates. */
  padId?: number | null;
}

interface Found {
  init: Value;
  origin: ParameterOrigin;
  hfName: string | null;
  transpose: boolean;
  tiedCopies: string[];
}

const floatInitializers = (g: Graph) => g.initializers.filter((v) => isFloatType(v.initializer!.dataType));
const dimsOf = (v: Value) => tensorDims(v.initializer!);
const sameDims = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const moduleOf = (hfName: string) => hfName.slice(0, Math.max(0, hfName.lastIndexOf('.')));
const leafOf = (hfName: string) => hfName.slice(hfName.lastIndexOf('.') + 1);

const decoded = new WeakMap<TensorProto, Float32Array>();
/**
 * An initializer's values as float32, decoded once: raw_data often sits unaligned in the file's buffer, so
 * each decode is a copy, and discovery reads every initializer several times (a base-size model: 440 MB).
 */
function floatsOf(t: TensorProto): Float32Array {
  let a = decoded.get(t);
  if (!a) decoded.set(t, (a = tensorToFloat32(t)));
  return a;
}

/**
 * Whether `a` holds the transpose of the [rows, cols] tensor `b`, bitwise (so -0 and 0 differ, as the bytes
 * do), without making the transpose. With cols = 1 it is plain bitwise equality.
 */
function sameBitsTransposed(a: Float32Array, b: Float32Array, rows: number, cols: number): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) if (x[j * rows + i] !== y[i * cols + j]) return false;
  return true;
}

/** Bitwise equality of float data. */
const sameBits = (a: Float32Array, b: Float32Array) => sameBitsTransposed(a, b, b.length, 1);

function allEqual(a: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 1; i < x.length; i++) if (x[i] !== x[0]) return false;
  return true;
}

/**
 * A hash of the bits of the transpose of the [rows, cols] tensor `a`, without making the transpose, to find
 * equal tensors without comparing every pair. With cols = 1 it hashes `a` as it is (bitsKey).
 */
function transposedBitsKey(a: Float32Array, rows: number, cols: number): string {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let j = 0; j < cols; j++) {
    for (let i = 0; i < rows; i++) {
      const v = x[i * cols + j]!;
      h1 = Math.imul(h1 ^ v, 0x01000193);
      h2 = Math.imul(h2 + v, 0x5bd1e995) ^ (h2 >>> 15);
    }
  }
  return `${a.length}:${(h1 >>> 0).toString(36)}:${(h2 >>> 0).toString(36)}`;
}

const bitsKey = (a: Float32Array) => transposedBitsKey(a, a.length, 1);

/** Appends `item` to the list under `key`. */
function pushTo<K, T>(map: Map<K, T[]>, key: K, item: T): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

/** The position of a value's first reader: parameters are listed in that order, like the model's own layers. */
function firstUseOrder(g: Graph): (v: Value) => number {
  const at = new Map(g.nodes.map((n, i) => [n, i]));
  return (v) => usesOf(v).reduce((first, u) => Math.min(first, at.get(u.node) ?? Infinity), Infinity);
}

/** Rewires graph edits: a new initializer, and Transpose views of a canonical one, memoized per value. */
class Rewriter {
  readonly edits: string[] = [];
  private readonly transposed = new Map<Value, Value>();
  constructor(private readonly g: Graph) {}

  initializer(base: string, tensor: TensorProto): Value {
    const name = this.g.get(base) ? this.g.freshName(base) : base;
    const v = this.g.addInitializer({ ...tensor, name }, name);
    v.type = { elemType: tensor.dataType, shape: tensor.dims.map(Number) };
    return v;
  }

  transposeOf(v: Value): Value {
    let t = this.transposed.get(v);
    if (!t) {
      t = this.g.newValue(`${v.name}/transposed`);
      const d = dimsOf(v);
      t.type = { elemType: v.initializer!.dataType, shape: [d[1]!, d[0]!] };
      this.g.addNode('Transpose', [v], [t], [], { name: `${v.name}/transpose` });
      this.transposed.set(v, t);
    }
    return t;
  }

  point(u: Use, to: Value): void {
    if (u.node.inputs[u.slot] !== to) this.g.setNodeInput(u.node, u.slot, to);
  }
}

/** A float32 initializer with `data` in `dims`, of the element type of `like` (float32 only is supported). */
function tensorLike(like: TensorProto, name: string, dims: number[], data: Float32Array): TensorProto {
  if (like.dataType !== DataType.FLOAT) {
    throw new InputError(`initializer '${like.name}': only float32 parameters can be untied or rematerialized, found another float type; re-export in float32`);
  }
  return makeTensor(name, DataType.FLOAT, dims, data);
}

// ---------------------------------------------------------------------------------------------------------
// With model.safetensors
// ---------------------------------------------------------------------------------------------------------

interface Layout {
  hf: HfTensor;
  transpose: boolean;
}

function layoutsOf(init: Value, data: Float32Array, index: Map<string, Layout[]>): Layout[] {
  const dims = dimsOf(init);
  const found = new Map<string, Layout>();
  for (const l of index.get(bitsKey(data)) ?? []) {
    if (found.has(l.hf.name) && !found.get(l.hf.name)!.transpose) continue; // as-is wins over transposed
    const ok = l.transpose
      ? l.hf.shape.length === 2 && sameDims(dims, [l.hf.shape[1]!, l.hf.shape[0]!]) && sameBitsTransposed(data, l.hf.data, l.hf.shape[0]!, l.hf.shape[1]!)
      : sameDims(dims, l.hf.shape) && sameBits(data, l.hf.data);
    if (ok) found.set(l.hf.name, l);
  }
  return [...found.values()];
}

/** Which of the parameters an initializer matches a use stands for; null when the export does not say. */
function pickParameter(u: Use, init: Value, matches: Layout[]): Layout | null {
  if (matches.length === 1) return matches[0]!;
  // TorchScript: an Identity named after the parameter.
  const alias = u.via !== init ? matches.find((m) => namesPath(u.via.name, m.hf.name)) : undefined;
  if (alias) return alias;
  // The reading node's module, then the slot's role within it (a LayerNorm's weight or bias).
  if (u.scope !== null) {
    const inModule = matches.filter((m) => namesPath(u.scope!, moduleOf(m.hf.name)));
    if (inModule.length === 1) return inModule[0]!;
    const role = roleOf(u);
    const byRole = inModule.filter((m) => leafOf(m.hf.name) === role);
    if (byRole.length === 1) return byRole[0]!;
  }
  if (u.via === init) return matches.find((m) => namesPath(init.name, m.hf.name)) ?? null;
  return null;
}

/**
 * Whether an export's name (a node's module path, an initializer's name) stands for the HF path `hf`: equal,
 * or `hf` under a wrapper's prefix. A model exported through a wrapper module (`self.m = model`, the way
 * around TorchScript's extra inputs) names everything `m.model.layers.0...` where HF says `model.layers.0...`.
 */
function namesPath(exported: string, hf: string): boolean {
  return exported === hf || exported.endsWith(`.${hf}`);
}

interface Assignment {
  init: Value;
  transpose: boolean;
  use: Use;
}

/** A use of an initializer equal to several HF tensors, when nothing in the export says which it stands for. */
interface AmbiguousUse {
  init: Value;
  use: Use;
  matches: Layout[];
}

/**
 * What the steps of matching model.safetensors share: the uses given to each HF tensor (the map's order is
 * the plan's), and the tensors the export folded or dropped, made again from model.safetensors.
 */
interface HfMatch {
  g: Graph;
  weights: Map<string, HfTensor>;
  rw: Rewriter;
  assigned: Map<string, Assignment[]>;
  rematerialized: Set<string>;
}

function fromHfWeights(g: Graph, weights: Map<string, HfTensor>, warnings: string[], rw: Rewriter, where: { file: string; weightsFile: string }): Found[] {
  const { assigned, ambiguous, scalars } = matchInitializers(g, indexByBits(weights));
  settleAmbiguousUses(assigned, ambiguous, warnings);
  const m: HfMatch = { g, weights, rw, assigned, rematerialized: new Set() };
  restoreFoldedScalars(m, scalars);
  restoreOnePlusWeights(m);
  restoreDroppedBiases(m);
  const found = oneInitializerPerParameter(m);
  checkSameModel(weights, assigned, where);
  warnUnread(weights, assigned, warnings);
  return found;
}

/**
 * model.safetensors of another model (a wrong --hf-model) matches a few constant-valued tensors (LayerNorm
 * ones and zero biases) by value and nothing else; trained on, most of the student would stay frozen under
 * wrong names. Most of a model's values are in its weight matrices, so under half of the values read by
 * the graph means another model.
 */
function checkSameModel(weights: Map<string, HfTensor>, assigned: Map<string, Assignment[]>, where: { file: string; weightsFile: string }): void {
  let total = 0;
  let read = 0;
  for (const [name, hf] of weights) {
    total += hf.data.length;
    if (assigned.has(name)) read += hf.data.length;
  }
  if (total > 0 && read < total / 2) {
    throw new InputError(`${where.weightsFile}: only ${read.toLocaleString('en-US')} of its ${total.toLocaleString('en-US')} values are in ${where.file}; it is another model's: pass the student's own Hugging Face folder with --hf-model (or none)`);
  }
}

/**
 * model.safetensors' tensors by a hash of their bits, as they are and transposed, so that each initializer
 * finds the tensors equal to it without being compared with all of them. A constant-valued tensor's
 * transpose has the same bits: a non-square one is listed as transposed under its one hash.
 */
function indexByBits(weights: Map<string, HfTensor>): Map<string, Layout[]> {
  const index = new Map<string, Layout[]>();
  for (const hf of weights.values()) {
    pushTo(index, bitsKey(hf.data), { hf, transpose: false });
    if (hf.shape.length === 2 && !allEqual(hf.data)) pushTo(index, transposedBitsKey(hf.data, hf.shape[0]!, hf.shape[1]!), { hf, transpose: true });
    else if (hf.shape.length === 2 && hf.shape[0] !== hf.shape[1]) pushTo(index, bitsKey(hf.data), { hf, transpose: true });
  }
  return index;
}

/**
 * Matches each float initializer to the HF tensors of its value (as is or transposed, whatever its name) and
 * gives each of its uses to the one the export's names say (pickParameter); the uses they do not settle are
 * returned apart. Also lists the scalars, into which the exporter may have folded constant-valued parameters.
 */
function matchInitializers(g: Graph, index: Map<string, Layout[]>): { assigned: Map<string, Assignment[]>; ambiguous: AmbiguousUse[]; scalars: Value[] } {
  const assigned = new Map<string, Assignment[]>();
  const ambiguous: AmbiguousUse[] = [];
  const scalars: Value[] = [];
  for (const init of floatInitializers(g)) {
    const data = floatsOf(init.initializer!);
    if (data.length === 1) scalars.push(init);
    const matches = layoutsOf(init, data, index);
    if (!matches.length) continue;
    for (const use of usesOf(init)) {
      const m = pickParameter(use, init, matches);
      if (m) pushTo(assigned, m.hf.name, { init, transpose: m.transpose, use });
      else ambiguous.push({ init, use, matches });
    }
  }
  return { assigned, ambiguous, scalars };
}

/**
 * Uses no name or module decides: give each to a parameter of its value that has no use yet, in name order,
 * and say so. Done after every other use is given, so that none takes a parameter the export does name.
 */
function settleAmbiguousUses(assigned: Map<string, Assignment[]>, ambiguous: AmbiguousUse[], warnings: string[]): void {
  for (const a of ambiguous) {
    const free = a.matches.filter((m) => !assigned.has(m.hf.name)).sort((x, y) => x.hf.name.localeCompare(y.hf.name, 'en', { numeric: true }));
    const m = free[0] ?? a.matches[0]!;
    pushTo(assigned, m.hf.name, { init: a.init, transpose: m.transpose, use: a.use });
    warnings.push(`${a.use.node.describe()} reads '${a.init.name}', equal to ${a.matches.length} parameters of model.safetensors, and nothing in the export says which: given to '${m.hf.name}' (names may be swapped in model.safetensors; training is the same). Export with scripts/tools/export_hf.py for an exact map`);
  }
}

/** Records a parameter made again from model.safetensors: the edit that says how, and the uses it now has. */
function recordRestored(m: HfMatch, hfName: string, edit: string, uses: Assignment[]): void {
  m.rw.edits.push(edit);
  m.rematerialized.add(hfName);
  m.assigned.set(hfName, uses);
}

/**
 * Parameters the exporter folded into a scalar constant: a constant-valued HF tensor (a zero bias) whose
 * module reads a scalar of that value at the slot of its role. They get their own initializer again, or
 * PyTorch would train a tensor that the graph does not.
 */
function restoreFoldedScalars(m: HfMatch, scalars: Value[]): void {
  for (const hf of m.weights.values()) {
    if (m.assigned.has(hf.name) || !allEqual(hf.data) || hf.data.length === 0) continue;
    const folded: { use: Use; scalar: Value }[] = [];
    for (const scalar of scalars) {
      if (!sameBits(floatsOf(scalar.initializer!), hf.data.subarray(0, 1))) continue;
      for (const use of usesOf(scalar)) if (use.scope === moduleOf(hf.name) && roleOf(use) === leafOf(hf.name)) folded.push({ use, scalar });
    }
    if (!folded.length) continue;
    const made = m.rw.initializer(hf.name, tensorLike(folded[0]!.scalar.initializer!, hf.name, hf.shape, hf.data));
    for (const f of folded) m.rw.point(f.use, made);
    const edit = `'${hf.name}' ${JSON.stringify(hf.shape)}: rematerialized from model.safetensors (the export folded it into scalar '${folded[0]!.scalar.name}', read by ${folded.map((f) => `'${f.use.node.name}'`).join(', ')})`;
    recordRestored(m, hf.name, edit, folded.map(({ use }) => ({ init: made, transpose: false, use })));
  }
}

/**
 * Parameters applied as `1 + w` (Gemma's RMSNorm) that the exporter folded into a constant: an initializer
 * equal to 1 + the HF tensor, read in that tensor's module, becomes Add(w, 1) over the parameter w, which
 * is what PyTorch computes every forward (fresh norms all fold into one shared tensor of ones).
 */
function restoreOnePlusWeights(m: HfMatch): void {
  const { g, rw } = m;
  const used = new Set([...m.assigned.values()].flatMap((list) => list.map((a) => a.init)));
  const unclaimed = new Map<string, Value[]>();
  for (const init of floatInitializers(g)) {
    if (used.has(init)) continue;
    const key = `${dimsOf(init).join('x')}|${bitsKey(floatsOf(init.initializer!))}`;
    pushTo(unclaimed, key, init);
  }
  for (const hf of m.weights.values()) {
    if (m.assigned.has(hf.name)) continue;
    const onePlus = hf.data.map((x) => Math.fround(1 + x));
    const holders = (unclaimed.get(`${hf.shape.join('x')}|${bitsKey(onePlus)}`) ?? []).filter((v) => sameBits(floatsOf(v.initializer!), onePlus));
    const uses = holders.flatMap((v) => usesOf(v)).filter((u) => u.scope === moduleOf(hf.name));
    if (!uses.length) continue;
    const w = rw.initializer(hf.name, tensorLike(holders[0]!.initializer!, hf.name, hf.shape, hf.data));
    const sum = g.newValue(`${hf.name}/one_plus`);
    sum.type = { ...w.type };
    const add = g.addNode('Add', [w, rw.initializer(`${hf.name}/one`, makeTensor('', DataType.FLOAT, [], Float32Array.of(1)))], [sum], [], { name: `${hf.name}/one_plus` });
    for (const u of uses) rw.point(u, sum);
    const edit = `'${hf.name}' ${JSON.stringify(hf.shape)}: restored from model.safetensors as 1 + w (the export folded it into '${holders[0]!.name}', read by ${uses.map((u) => `'${u.node.name}'`).join(', ')})`;
    recordRestored(m, hf.name, edit, [{ init: w, transpose: false, use: { node: add, slot: 0, via: w, scope: uses[0]!.scope } }]);
  }
}

/**
 * Zero biases an optimizer removed outright (onnxscript's RemoveOptionalBias turns Gemm(x, W, 0) into
 * Gemm(x, W)): the bias goes back where its module's weight is applied, as Gemm's C or an Add after MatMul.
 */
function restoreDroppedBiases(m: HfMatch): void {
  for (const hf of m.weights.values()) {
    if (m.assigned.has(hf.name) || leafOf(hf.name) !== 'bias' || !allEqual(hf.data) || hf.data[0] !== 0 || hf.shape.length !== 1) continue;
    const weightUses = (m.assigned.get(`${moduleOf(hf.name)}.weight`) ?? []).filter((a) => a.use.node.opType === 'Gemm' || a.use.node.opType === 'MatMul');
    const nodes = [...new Set(weightUses.map((a) => a.use.node))];
    if (nodes.length !== 1 || (nodes[0]!.opType === 'Gemm' && nodes[0]!.inputs[2])) continue;
    const node = nodes[0]!;
    const made = m.rw.initializer(hf.name, tensorLike(weightUses[0]!.init.initializer!, hf.name, hf.shape, hf.data));
    const use = addBias(m.g, node, made, weightUses[0]!.use.scope);
    const edit = `'${hf.name}' ${JSON.stringify(hf.shape)}: restored from model.safetensors into ${node.describe()} (the export dropped this zero bias)`;
    recordRestored(m, hf.name, edit, [{ init: made, transpose: false, use }]);
  }
}

/** Applies `bias` after the Gemm or MatMul `node` (as Gemm's C, or an Add on MatMul's output); returns its use. */
function addBias(g: Graph, node: Node, bias: Value, scope: string | null): Use {
  if (node.opType === 'Gemm') {
    g.setNodeInput(node, 2, bias);
    return { node, slot: 2, via: bias, scope };
  }
  const out = node.output(0);
  const sum = g.newValue(`${out.name}/bias`);
  sum.type = { ...out.type };
  g.replaceAllUses(out, sum);
  const add = g.addNode('Add', [out, bias], [sum], [], { name: `${node.name}/bias` });
  return { node: add, slot: 1, via: bias, scope };
}

/** The HF tensors each initializer's uses were given to: more than one means the export merged them. */
function parametersServedBy(assigned: Map<string, Assignment[]>): Map<Value, Set<string>> {
  const serves = new Map<Value, Set<string>>();
  for (const [name, list] of assigned) for (const a of list) (serves.get(a.init) ?? serves.set(a.init, new Set()).get(a.init)!).add(name);
  return serves;
}

/**
 * Makes each matched HF tensor one initializer that all its uses read. An initializer it holds alone is
 * kept (as is in preference to transposed); its other copies are tied to it (their readers read it, so
 * one gradient sum, one update), and uses of the other layout read a Transpose of it.
 */
function oneInitializerPerParameter({ weights, rw, assigned, rematerialized }: HfMatch): Found[] {
  const serves = parametersServedBy(assigned);
  const found: Found[] = [];
  const taken = new Set<Value>();
  for (const [name, list] of assigned) {
    const hf = weights.get(name)!;
    const inits = [...new Set(list.map((a) => a.init))];
    const exclusive = inits.filter((v) => serves.get(v)!.size === 1 && !taken.has(v));
    const layoutOf = (v: Value) => list.find((a) => a.init === v)!.transpose;
    let canonical = exclusive.find((v) => !layoutOf(v)) ?? exclusive[0];
    let origin: ParameterOrigin = rematerialized.has(name) ? 'rematerialized' : 'as-exported';
    const transpose = canonical ? layoutOf(canonical) : list[0]!.transpose;
    if (!canonical) {
      canonical = untiedCopy(hf, list[0]!.init, transpose, serves.get(list[0]!.init)!.size, rw);
      origin = 'untied';
    }
    taken.add(canonical);
    for (const a of list) rw.point(a.use, a.transpose === transpose ? canonical : rw.transposeOf(canonical));
    const tiedCopies = inits.filter((v) => v !== canonical && serves.get(v)!.size === 1);
    if (tiedCopies.length) rw.edits.push(`'${hf.name}': the readers of its copies ${tiedCopies.map((v) => `'${v.name}'`).join(', ')} read it instead (one gradient sum, one update)`);
    found.push({ init: canonical, origin, hfName: hf.name, transpose, tiedCopies: tiedCopies.map((v) => v.name) });
  }
  return found;
}

/**
 * A parameter's own initializer, from model.safetensors in the layout its uses read, when every initializer
 * holding it also holds other parameters (a merge): trained as one, they would be a different model.
 */
function untiedCopy(hf: HfTensor, shared: Value, transpose: boolean, sharers: number, rw: Rewriter): Value {
  const data = transpose ? transpose2d(hf.data, hf.shape[0]!, hf.shape[1]!) : hf.data;
  const dims = transpose ? [hf.shape[1]!, hf.shape[0]!] : hf.shape;
  const copy = rw.initializer(hf.name, tensorLike(shared.initializer!, hf.name, dims, data));
  rw.edits.push(`'${hf.name}': its own copy of '${shared.name}', which the export shares among ${sharers} parameters`);
  return copy;
}

/** Says which tensors of model.safetensors nothing in the graph reads: they will not be trained. */
function warnUnread(weights: Map<string, HfTensor>, assigned: Map<string, Assignment[]>, warnings: string[]): void {
  const missing = [...weights.keys()].filter((n) => !assigned.has(n));
  if (missing.length) {
    warnings.push(`${missing.length} tensor(s) of model.safetensors are not read by the graph and will not be trained (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}): the task's head does not use them, or the exporter folded them; check with 'distill inspect --params'`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Without model.safetensors
// ---------------------------------------------------------------------------------------------------------

/** Names the exporters give parameters they keep under their module path ('bert.pooler.dense.bias'). */
const looksLikeHfName = (name: string) => /^[A-Za-z_][\w]*(\.[\w]+)+$/.test(name) && !/^(onnx|val|const)[_:]/.test(name);

function fromHeuristics(g: Graph, constants: PlannedConstant[], trainable: readonly string[], warnings: string[], rw: Rewriter): Found[] {
  const found: Found[] = [];
  let untiedByNode = 0;
  for (const init of parameterCandidates(g, constants, trainable)) {
    const own: Found = { init, origin: 'as-exported', hfName: looksLikeHfName(init.name) ? init.name : null, transpose: false, tiedCopies: [] };
    const copies = untieMergedConstant(own, rw);
    found.push(own, ...copies);
    untiedByNode += copies.filter((c) => c.hfName === null).length; // a copy per reading node is the one with no name
  }
  if (untiedByNode) warnings.push(`${untiedByNode} merged initializer use(s) carry no parameter name or module path: each reading node got its own parameter. Put config.json and model.safetensors beside the ONNX file (or pass --hf-model) for an exact map`);
  const removed = tieEqualTensors(found, rw);
  const kept = found.filter((f) => !removed.has(f));
  const unnamed = kept.filter((f) => f.hfName === null).length;
  if (unnamed) warnings.push(`${unnamed} parameter(s) have no Hugging Face name (no model.safetensors beside the ONNX file): model.safetensors will use ONNX names for them; pass --hf-model DIR for HF names`);
  return kept;
}

/**
 * The float initializers that may be parameters. The others go to `constants`, with why: a scalar (an
 * exporter constant), or a tensor no weight or bias position reads; `--trainable` globs overrule both.
 */
function parameterCandidates(g: Graph, constants: PlannedConstant[], trainable: readonly string[]): Value[] {
  const candidates: Value[] = [];
  for (const v of floatInitializers(g)) {
    const uses = usesOf(v);
    const forced = matchesAny(v.name, trainable);
    if (!forced && elementCount(dimsOf(v)) <= 1) constants.push({ name: v.name, shape: dimsOf(v), why: 'a scalar (an exporter constant such as an attention scale; --trainable to train it)' });
    else if (!forced && !uses.some(isLearnablePosition)) constants.push({ name: v.name, shape: dimsOf(v), why: 'read by no weight or bias position (a mask or a constant; --trainable to train it)' });
    else candidates.push(v);
  }
  return candidates;
}

/**
 * A constant-valued tensor read from several places is a merge of parameters that happened to be equal
 * (zero biases, unit LayerNorm weights): one parameter per Identity alias (TorchScript names them), else
 * per module and role (dynamo), else per reading node. `own` stays the first; returns the copies made for
 * the others (none when it is not such a merge).
 */
function untieMergedConstant(own: Found, rw: Rewriter): Found[] {
  const init = own.init;
  const data = floatsOf(init.initializer!);
  const uses = usesOf(init);
  if (uses.length < 2 || !allEqual(data)) return [];
  const aliased = uses.some((u) => u.via !== init);
  const keyOf = (u: Use) => (u.via !== init ? `alias:${u.via.name}` : aliased ? 'self' : u.scope !== null ? `scope:${u.scope}.${roleOf(u) ?? 'param'}` : `node:${u.node.name}`);
  const groups = new Map<string, Use[]>();
  for (const u of uses) pushTo(groups, keyOf(u), u);
  if (groups.size < 2) return [];
  const [first, ...rest] = [...groups.entries()].sort(([a], [b]) => (a === 'self' ? -1 : b === 'self' ? 1 : 0));
  if (!aliased && first![0].startsWith('scope:')) own.hfName = first![0].slice('scope:'.length);
  const copies: Found[] = [];
  for (const [key, group] of rest) {
    const name = key.startsWith('alias:') ? key.slice('alias:'.length) : key.startsWith('scope:') ? key.slice('scope:'.length) : `${init.name}.untied`;
    const copy = rw.initializer(name, tensorLike(init.initializer!, name, dimsOf(init), data));
    for (const u of group) rw.point(u, copy);
    copies.push({ init: copy, origin: 'untied', hfName: key.startsWith('node:') ? null : name, transpose: false, tiedCopies: [] });
  }
  rw.edits.push(`'${init.name}' ${JSON.stringify(dimsOf(init))}: untied into ${groups.size} parameters (constant-valued, read by ${groups.size} ${aliased ? 'aliases' : 'modules'})`);
  return copies;
}

/** The non-constant tensors found, by shape and a hash of their bits, as they are and (2-D) transposed. */
function foundByBits(found: Found[]): Map<string, { f: Found; transpose: boolean }[]> {
  const byKey = new Map<string, { f: Found; transpose: boolean }[]>();
  for (const f of found) {
    const data = floatsOf(f.init.initializer!);
    if (allEqual(data)) continue;
    const dims = dimsOf(f.init);
    const keys = [{ key: `${dims.join('x')}|${bitsKey(data)}`, transpose: false }];
    if (dims.length === 2) keys.push({ key: `${dims[1]}x${dims[0]}|${transposedBitsKey(data, dims[0]!, dims[1]!)}`, transpose: true });
    for (const k of keys) pushTo(byKey, k.key, { f, transpose: k.transpose });
  }
  return byKey;
}

/**
 * Ties: equal non-constant tensors (as they are, or one the transpose of the other) are copies of one
 * parameter, e.g. a weight the dynamo exporter wrote once per layer that shares it. The readers of each copy
 * read the first instead; returns the copies, which are no longer parameters.
 */
function tieEqualTensors(found: Found[], rw: Rewriter): Set<Found> {
  const removed = new Set<Found>();
  for (const group of foundByBits(found).values()) {
    const canonical = group.find((x) => !x.transpose && !removed.has(x.f));
    if (!canonical) continue;
    const cdata = floatsOf(canonical.f.init.initializer!);
    for (const x of group) {
      if (x.f === canonical.f || removed.has(x.f)) continue;
      const other = floatsOf(x.f.init.initializer!);
      const dims = dimsOf(x.f.init);
      const equal = x.transpose ? sameBits(transpose2d(other, dims[0]!, dims[1]!), cdata) : sameBits(other, cdata);
      if (!equal) continue;
      for (const u of usesOf(x.f.init)) rw.point(u, x.transpose ? rw.transposeOf(canonical.f.init) : canonical.f.init);
      canonical.f.tiedCopies.push(x.f.init.name);
      canonical.f.hfName ??= x.f.hfName;
      removed.add(x.f);
      rw.edits.push(`'${x.f.init.name}' is ${x.transpose ? 'the transpose of' : 'equal to'} '${canonical.f.init.name}': tied (one parameter)`);
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------------------

function paddingRowOf(init: Value, padId: number | null | undefined): number | null {
  if (padId === null || padId === undefined || padId < 0) return null;
  const dims = dimsOf(init);
  if (dims.length !== 2 || padId >= dims[0]!) return null;
  if (!usesOf(init).some((u) => u.node.opType === 'Gather' && u.slot === 0)) return null;
  // nn.Embedding(padding_idx) zeroes that row at init and never updates it: a zero row at the padding id.
  const data = floatsOf(init.initializer!);
  const row = data.subarray(padId * dims[1]!, (padId + 1) * dims[1]!);
  return row.every((x) => x === 0) ? padId : null;
}

/**
 * Names each parameter's initializer by its HF name where that name is free: `--freeze 'bert.embeddings.*'`
 * then means what it says, and so do error messages. (A sidecar's names are the export's own: kept.)
 */
function renameToHfNames(g: Graph, found: Found[], rw: Rewriter): void {
  for (const f of found) {
    if (f.hfName && f.init.name !== f.hfName && !g.get(f.hfName)) {
      const old = f.init.name;
      g.rename(f.init, f.hfName);
      f.init.initializer!.name = f.hfName;
      if (f.origin === 'as-exported' && !old.startsWith(f.hfName)) rw.edits.push(`'${old}' renamed '${f.hfName}'`);
    }
  }
}

/** Rewrites `model` so each parameter is one initializer and returns the plan (see the module comment). */
export function discoverParameters(model: Model, options: DiscoverOptions): ParameterPlan {
  const g = model.graph;
  const warnings: string[] = [];
  const constants: PlannedConstant[] = [];
  const rw = new Rewriter(g);
  checkGlobsMatch('--trainable', options.trainable ?? [], floatInitializers(g).map((v) => v.name), 'they name the ONNX initializers `distill inspect MODEL --params` lists');
  let found: Found[];
  let source: ParameterPlan['source'];
  if (options.sidecar) {
    source = 'sidecar';
    found = Object.entries(options.sidecar.parameters).map(([name, m]) => {
      const init = g.get(name);
      if (!init?.initializer) throw new InputError(`${options.file}: its sidecar names parameter '${name}', which is not an initializer of the graph; re-export it`);
      return { init, origin: 'as-exported' as const, hfName: m.name, transpose: m.transpose, tiedCopies: [] };
    });
  } else if (options.hf.weights) {
    source = 'hf-files';
    found = fromHfWeights(g, options.hf.weights, warnings, rw, { file: options.file, weightsFile: options.hf.weightsFile ?? options.hf.dir });
    const forced = floatInitializers(g).filter((v) => matchesAny(v.name, options.trainable ?? []) && !found.some((f) => f.init === v));
    for (const init of forced) found.push({ init, origin: 'as-exported', hfName: null, transpose: false, tiedCopies: [] });
  } else {
    source = 'heuristics';
    found = fromHeuristics(g, constants, options.trainable ?? [], warnings, rw);
  }
  eliminateDeadCode(g);
  topologicalSort(g);

  if (source !== 'sidecar') renameToHfNames(g, found, rw);

  const inPlan = new Set(found.map((f) => f.init));
  for (const v of floatInitializers(g)) {
    if (inPlan.has(v) || constants.some((c) => c.name === v.name)) continue;
    constants.push({ name: v.name, shape: dimsOf(v), why: source === 'hf-files' ? 'matches no tensor of model.safetensors (an exporter constant)' : 'not a parameter in the sidecar' });
  }
  const order = firstUseOrder(g);
  const parameters: PlannedParameter[] = found
    .map((f) => ({ f, at: order(f.init) }))
    .sort((a, b) => a.at - b.at)
    .map(({ f }) => ({
      initializer: f.init.name,
      hfName: f.hfName,
      transpose: f.transpose,
      shape: dimsOf(f.init),
      uses: usesOf(f.init).length,
      origin: f.origin,
      tiedCopies: f.tiedCopies,
      decay: decays(f.hfName, f.init),
      paddingRow: paddingRowOf(f.init, options.padId),
    }));
  return { source, parameters, constants, warnings, edits: rw.edits };
}
