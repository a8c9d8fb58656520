/**
 * A small mutable graph IR over ONNX. Values know their producer and their consumers; nodes keep their
 * original protobuf attributes and extras so that a load -> IR -> save round trip keeps everything the IR
 * does not touch. The graph keeps its invariants (unique names, producer/consumer links) in this one file:
 * other modules read nodes, inputs, outputs, producers and uses through read-only views and change them only
 * through Graph's mutators (addNode, removeNode, setNodeInput, setNodeOutput, setImplicitInputs,
 * replaceAllUses, setInputs, setOutputs, reorderNodes, removeValue), which update both ends of every link.
 */
import { GraphError } from '../errors.js';
import type {
  AttributeProto, GraphProto, NodeProto, SparseTensorProto, StringStringEntryProto, TensorProto, ValueInfoProto,
} from '../onnx/proto.js';
import { Attributes } from './attributes.js';
import { renameInSubgraphAttributes } from './subgraph-names.js';
import { qualifiedOpType } from '../onnx/ops.js';

/** A dimension: a fixed size, a symbolic name (dim_param), or unknown (null). */
export type Dim = number | string | null;

export interface TensorType {
  /** ONNX element type (DataType); undefined when not known. */
  elemType?: number;
  /** Shape; undefined when even the rank is unknown. */
  shape?: Dim[];
}

interface ValueLinks {
  producer: Node | null;
  uses: Node[];
}
interface NodeLinks {
  inputs: (Value | null)[];
  outputs: (Value | null)[];
  implicitInputs: Value[];
}
// Write access to the links for Graph's mutators alone: the classes' static blocks set these, and they are
// not exported, so no other module can break a link's other end.
let valueLinks: (v: Value) => ValueLinks;
let nodeLinks: (n: Node) => NodeLinks;

export class Value {
  readonly #links: ValueLinks = { producer: null, uses: [] };
  static {
    valueLinks = (v) => v.#links;
  }
  type: TensorType = {};
  /** Set when the value is an initializer (a constant/parameter stored in the model). */
  initializer?: TensorProto;
  /** The ValueInfoProto the value was declared with, kept for doc strings, denotations and metadata. */
  info?: ValueInfoProto;

  constructor(readonly graph: Graph, public name: string) {}

  /** The node that computes this value; null for graph inputs, initializers and values not computed yet. */
  get producer(): Node | null {
    return this.#links.producer;
  }
  /** Consumers, once per input slot that reads this value (a node reading it twice appears twice). */
  get uses(): readonly Node[] {
    return this.#links.uses;
  }
  get isInitializer(): boolean {
    return this.initializer !== undefined;
  }
  get isGraphInput(): boolean {
    return this.graph.inputs.includes(this);
  }
  get rank(): number | undefined {
    return this.type.shape?.length;
  }
  toString(): string {
    return this.name;
  }
}

export interface NodeExtras {
  docString?: string;
  overload?: string;
  metadataProps?: StringStringEntryProto[];
  deviceConfigurations?: unknown[];
}

export class Node {
  readonly attrs: Attributes;
  readonly #links: NodeLinks;
  static {
    nodeLinks = (n) => n.#links;
  }

  constructor(
    readonly graph: Graph,
    public opType: string,
    public domain: string,
    public name: string,
    inputs: readonly (Value | null)[],
    outputs: readonly (Value | null)[],
    readonly attributes: AttributeProto[],
    public extras: NodeExtras = {},
  ) {
    this.attrs = new Attributes(attributes, `node '${name}' (${opType})`);
    this.#links = { inputs: [...inputs], outputs: [...outputs], implicitInputs: [] };
  }

  get inputs(): readonly (Value | null)[] {
    return this.#links.inputs;
  }
  get outputs(): readonly (Value | null)[] {
    return this.#links.outputs;
  }
  /** Outer-scope values read by this node's subgraphs (Loop/If/Scan bodies); they count as uses. */
  get implicitInputs(): readonly Value[] {
    return this.#links.implicitInputs;
  }

  input(i: number): Value {
    const v = this.inputs[i];
    if (!v) throw new GraphError(`node '${this.name}' (${this.opType}): input ${i} is missing`);
    return v;
  }
  output(i = 0): Value {
    const v = this.outputs[i];
    if (!v) throw new GraphError(`node '${this.name}' (${this.opType}): output ${i} is missing`);
    return v;
  }
  /** "Op 'name'" for messages. */
  describe(): string {
    return `${this.opType} node '${this.name}'`;
  }
}

export interface GraphExtras {
  docString?: string;
  sparseInitializers: SparseTensorProto[];
  quantizationAnnotation?: unknown[];
  metadataProps?: StringStringEntryProto[];
}

export class Graph {
  #nodes: Node[] = [];
  #inputs: Value[] = [];
  #outputs: Value[] = [];
  readonly values = new Map<string, Value>();
  /** value_info entries of intermediate values, written back for those that still exist. */
  readonly valueInfo = new Map<string, ValueInfoProto>();
  extras: GraphExtras = { sparseInitializers: [] };
  /** Names taken anywhere (values, nodes, names inside subgraphs) so fresh names never collide. */
  private readonly taken = new Set<string>();
  /** Node names live in their own namespace (ONNX allows a node and a value to share a name). */
  private readonly takenNodeNames = new Set<string>();
  private counter = 0;

  constructor(public name = 'graph') {}

  /** The nodes in execution order (topological once the graph is built: see ir/passes.ts). */
  get nodes(): readonly Node[] {
    return this.#nodes;
  }
  get inputs(): readonly Value[] {
    return this.#inputs;
  }
  get outputs(): readonly Value[] {
    return this.#outputs;
  }

  /** Makes `values` the graph's inputs, in this order. */
  setInputs(values: readonly Value[]): void {
    this.#inputs = this.own(values, 'input');
  }
  /** Adds `values` after the graph's inputs. */
  appendInputs(...values: Value[]): void {
    this.setInputs([...this.#inputs, ...values]);
  }
  /** Makes `values` the graph's outputs, in this order. */
  setOutputs(values: readonly Value[]): void {
    this.#outputs = this.own(values, 'output');
  }
  /** Adds `values` after the graph's outputs. */
  appendOutputs(...values: Value[]): void {
    this.setOutputs([...this.#outputs, ...values]);
  }

  /** A copy of `values`, checked to be values of this graph (a value of another graph would be written by a name it does not declare). */
  private own(values: readonly Value[], role: string): Value[] {
    for (const v of values) {
      if (v.graph !== this) throw new GraphError(`graph '${this.name}': ${role} '${v.name}' belongs to graph '${v.graph.name}'`);
    }
    return [...values];
  }

  /** The value named `name`, created (unproduced, untyped) if it does not exist yet. */
  value(name: string): Value {
    let v = this.values.get(name);
    if (!v) {
      v = new Value(this, name);
      this.values.set(name, v);
      this.taken.add(name);
    }
    return v;
  }

  get(name: string): Value | undefined {
    return this.values.get(name);
  }

  /** Reserves a name (used while importing subgraphs whose inner names must not be reused). */
  reserveName(name: string): void {
    this.taken.add(name);
  }

  /** A name not used anywhere in the graph, built from `base`. */
  freshName(base: string): string {
    let name = base;
    while (this.taken.has(name)) name = `${base}_${++this.counter}`;
    this.taken.add(name);
    return name;
  }

  /** A node name not used yet; an empty name (allowed by ONNX) stays empty. */
  freshNodeName(base: string): string {
    if (base === '') return '';
    let name = base;
    while (this.takenNodeNames.has(name)) name = `${base}_${++this.counter}`;
    this.takenNodeNames.add(name);
    return name;
  }

  /** A new value with a fresh name. */
  newValue(base: string): Value {
    return this.value(this.freshName(base));
  }

  /** A new graph input; the name must be free. */
  addInput(name: string, type: TensorType): Value {
    if (this.values.has(name)) throw new GraphError(`graph '${this.name}' already has a value named '${name}'`);
    const v = this.value(name);
    v.type = type;
    this.#inputs.push(v);
    return v;
  }

  /** Turns an initializer into a graph input (fed at run time); returns the tensor it held. */
  promoteToInput(v: Value): TensorProto {
    const init = v.initializer;
    if (!init) throw new GraphError(`'${v.name}' is not an initializer`);
    delete v.initializer;
    v.type = { elemType: init.dataType, shape: init.dims.map(Number) };
    if (!this.#inputs.includes(v)) this.#inputs.push(v);
    return init;
  }

  /** Gives a value a new name, which must be free (interface names such as 'loss'). */
  rename(v: Value, name: string): Value {
    if (v.name === name) return v;
    if (this.values.has(name)) throw new GraphError(`graph '${this.name}' already has a value named '${name}'`);
    this.values.delete(v.name);
    // Subgraphs (Loop/If/Scan bodies) read outer values by name.
    for (const n of v.uses) if (n.implicitInputs.includes(v)) renameInSubgraphAttributes(n.attributes, v.name, name);
    v.name = name;
    this.values.set(name, v);
    this.taken.add(name);
    return v;
  }

  addInitializer(tensor: TensorProto, name = tensor.name ?? 'init'): Value {
    const v = this.get(name) ?? this.value(name);
    if (v.producer) throw new GraphError(`initializer '${name}' collides with the output of ${v.producer.describe()}`);
    v.initializer = { ...tensor, name };
    return v;
  }

  get initializers(): Value[] {
    return [...this.values.values()].filter((v) => v.initializer !== undefined);
  }

  addNode(
    opType: string,
    inputs: (Value | null)[],
    outputs: (Value | null)[],
    attributes: AttributeProto[] = [],
    options: { name?: string; domain?: string; extras?: NodeExtras } = {},
  ): Node {
    const name = this.freshNodeName(options.name ?? opType);
    const node = new Node(this, opType, options.domain ?? '', name, inputs, outputs, attributes, options.extras);
    for (const out of outputs) {
      if (!out) continue;
      if (out.producer) throw new GraphError(`value '${out.name}' is produced twice (${out.producer.describe()} and ${node.describe()})`);
      valueLinks(out).producer = node;
    }
    for (const inp of inputs) if (inp) valueLinks(inp).uses.push(node);
    this.#nodes.push(node);
    return node;
  }

  /** Removes a node and its links. Its outputs stay as (unproduced) values until dead-code elimination. */
  removeNode(node: Node): void {
    const i = this.#nodes.indexOf(node);
    if (i < 0) return;
    this.#nodes.splice(i, 1);
    for (const inp of [...node.inputs, ...node.implicitInputs]) if (inp) removeOne(valueLinks(inp).uses, node);
    for (const out of node.outputs) if (out && out.producer === node) valueLinks(out).producer = null;
  }

  /** Points every consumer (and graph output) of `from` at `to`. */
  replaceAllUses(from: Value, to: Value): void {
    for (const user of [...from.uses]) {
      const links = nodeLinks(user);
      links.inputs = links.inputs.map((v) => (v === from ? to : v));
      links.implicitInputs = links.implicitInputs.map((v) => (v === from ? to : v));
      valueLinks(to).uses.push(user);
    }
    valueLinks(from).uses.length = 0;
    this.#outputs = this.#outputs.map((v) => (v === from ? to : v));
  }

  /** Replaces input slot `i` of `node`. */
  setNodeInput(node: Node, i: number, v: Value | null): void {
    const links = nodeLinks(node);
    const old = links.inputs[i];
    if (old) removeOne(valueLinks(old).uses, node);
    links.inputs[i] = v;
    if (v) valueLinks(v).uses.push(node);
  }

  /**
   * Makes `node` compute `v` as its output `i` (slots up to `i` are added, empty, if the node has fewer);
   * the value it computed there before is left unproduced. `v` must not be computed by another node.
   */
  setNodeOutput(node: Node, i: number, v: Value | null): void {
    if (v?.producer && v.producer !== node) {
      throw new GraphError(`value '${v.name}' is produced twice (${v.producer.describe()} and ${node.describe()})`);
    }
    const links = nodeLinks(node);
    while (links.outputs.length <= i) links.outputs.push(null);
    const old = links.outputs[i];
    if (old && old !== v && old.producer === node) valueLinks(old).producer = null;
    links.outputs[i] = v;
    if (v) valueLinks(v).producer = node;
  }

  /** Sets the outer values `node`'s subgraphs read (see Node.implicitInputs); they count as its uses. */
  setImplicitInputs(node: Node, values: readonly Value[]): void {
    const links = nodeLinks(node);
    for (const v of links.implicitInputs) removeOne(valueLinks(v).uses, node);
    links.implicitInputs = [...values];
    for (const v of values) valueLinks(v).uses.push(node);
  }

  /** Puts the nodes in `order`, which must hold each of the graph's nodes exactly once. */
  reorderNodes(order: readonly Node[]): void {
    const all = new Set(this.#nodes);
    const seen = new Set<Node>();
    for (const n of order) {
      if (!all.has(n) || seen.has(n)) throw new GraphError(`graph '${this.name}': the new order has ${n.describe()} ${seen.has(n) ? 'twice' : 'but the graph does not'}`);
      seen.add(n);
    }
    if (seen.size !== all.size) throw new GraphError(`graph '${this.name}': the new order leaves out ${this.#nodes.length - seen.size} node(s)`);
    this.#nodes = [...order];
  }

  /** Forgets a value that no node computes or reads and that is no graph input or output. */
  removeValue(v: Value): void {
    if (v.producer || v.uses.length || this.#inputs.includes(v) || this.#outputs.includes(v)) {
      throw new GraphError(`graph '${this.name}': value '${v.name}' is still in use`);
    }
    if (this.values.get(v.name) === v) this.values.delete(v.name);
  }

  /**
   * The nodes `roots` are computed from: their producers, those nodes' inputs' producers (subgraph reads
   * included), and so on; with `within`, only nodes in it are walked.
   */
  liveNodes(roots: readonly Value[], within?: ReadonlySet<Node>): Set<Node> {
    const inScope = (n: Node | null): n is Node => n !== null && (!within || within.has(n));
    const live = new Set<Node>();
    const stack = roots.map((v) => v.producer).filter(inScope);
    while (stack.length) {
      const n = stack.pop()!;
      if (live.has(n)) continue;
      live.add(n);
      for (const v of [...n.inputs, ...n.implicitInputs]) if (v && inScope(v.producer) && !live.has(v.producer)) stack.push(v.producer);
    }
    return live;
  }

  /** Count of nodes by op type, for inspection and budgets. */
  opHistogram(): Map<string, number> {
    const h = new Map<string, number>();
    for (const n of this.nodes) {
      const key = qualifiedOpType(n);
      h.set(key, (h.get(key) ?? 0) + 1);
    }
    return h;
  }
}

function removeOne<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

export type { GraphProto, NodeProto };
