/**
 * Dynamic int8 quantization of a float ONNX model in standard ONNX ops (what
 * `onnxruntime.quantization.quantize_dynamic` does, written from the operator spec):
 *
 * - MatMul / Gemm whose weight is a constant (an initializer, or a Transpose of one, as torch exports
 *   nn.Linear; either behind Identity nodes, as torch exports a weight several layers share): the weight
 *   becomes int8 with one symmetric scale per output feature (src/quantize/int8.ts);
 *   the activation is quantized when the model runs.
 *   form 'integer' (default):  DynamicQuantizeLinear(x) -> MatMulInteger(x_q, W_q, x_zp) -> Cast(float)
 *                              -> Mul(x_scale * w_scale) [-> Add(bias)]
 *   form 'qdq':                DynamicQuantizeLinear(x) -> DequantizeLinear -> MatMul/Gemm <- DequantizeLinear(W_q)
 *   ONNX Runtime's graph optimizer fuses the 'integer' pattern into int8 kernels (DynamicQuantizeMatMul,
 *   MatMulIntegerToFloat); docs/COMPRESSION.md has the measured difference between the forms.
 * - Optionally Gather on a constant [V, D] table (embeddings): int8 rows with one scale per row. A table of
 *   at most WHOLE_TABLE_MAX_VALUES values (opset 13+) is dequantized whole, then gathered in float:
 *   DequantizeLinear(W_q, scales, axis 0) -> Gather. A larger one dequantizes only the rows it gathers:
 *   Gather(W_q) -> Cast(float) -> Mul(Gather(scales)). Both give the same floats (q * scale).
 *
 * Everything else stays float. The pass works on the ModelProto in place of its graph (a new node list and
 * initializer list); weights that nothing else reads any more are dropped.
 */
import { GraphError } from '../errors.js';
import { makeAttribute } from '../ir/attributes.js';
import { DataType, dtypeName } from '../onnx/dtype.js';
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from '../onnx/proto.js';
import { toNumber } from '../onnx/proto.js';
import { makeTensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.js';
import { quantizeSymmetric, transpose } from './int8.js';
import { isStandardDomain } from '../onnx/ops.js';
import { subgraphsOf } from '../onnx/graph-names.js';

export type QuantizeForm = 'integer' | 'qdq';

/**
 * Tables up to this many values (1 MiB as float32) are dequantized whole on every run. That costs at most
 * ~0.1 ms on one core, less than the Cast and Mul over every gathered row of a batch (measured on the demo
 * student at 32 x 128 tokens: 1.74 against 1.89 ms per batch); a vocabulary-sized table stays row-wise.
 */
export const WHOLE_TABLE_MAX_VALUES = 1 << 18;
export const QUANTIZE_FORMS: readonly QuantizeForm[] = ['integer', 'qdq'];

export interface QuantizeOptions {
  form?: QuantizeForm;
  /** Also quantize Gather tables (word/position embeddings) to int8 (default false). */
  embeddings?: boolean;
}

export interface QuantizeReport {
  form: QuantizeForm;
  /** Names of the nodes rewritten, by op. */
  quantized: { MatMul: string[]; Gemm: string[]; Gather: string[] };
  /** MatMul/Gemm/Gather nodes left in float, and why. */
  skipped: { node: string; why: string }[];
  /**
   * MatMul/Gemm nodes whose weight is an embedding table transposed (tied input and output embeddings, as in
   * GPT-2): they read the table's int8 copy through a Transpose instead of storing a second one.
   */
  tied: { node: string; table: string }[];
}

/** An int8 weight in the graph: its values, its scales' name and values. */
interface QuantizedEntry {
  q: string;
  scale: string;
  scales: Float32Array;
  dequantized?: string;
}

/** A constant 2-D float matrix as the consuming node sees it, and where it came from. */
interface Weight {
  values: Float32Array;
  rows: number;
  cols: number;
  /** The initializer it is read from. */
  source: string;
  /** Read through a Transpose (torch's nn.Linear export) rather than as stored. */
  transposed: boolean;
  /** The Identity and Transpose nodes between the initializer and the consumer, folded into the weight. */
  via: NodeProto[];
}

/** What this pass quantizes: float32 matrices (weights [K, N] or [N, K], tables [V, D]). */
const is2dFloat = (t: TensorProto) => t.dataType === DataType.FLOAT && t.dims.length === 2;

const node = (opType: string, input: string[], output: string[], name: string, attribute: AttributeProto[] = []): NodeProto => ({
  opType, input, output, name, domain: '', attribute,
});

function attrOf(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute.find((a) => a.name === name);
}
const intAttr = (n: NodeProto, name: string, fallback: number) => {
  const a = attrOf(n, name);
  return a ? toNumber(a.i) : fallback;
};
const floatAttr = (n: NodeProto, name: string, fallback: number) => {
  const a = attrOf(n, name);
  return a ? (a.f ?? 0) : fallback;
};

function defaultOpset(model: ModelProto): number {
  const o = model.opsetImport.find((x) => isStandardDomain(x.domain));
  return o ? toNumber(o.version) : 0;
}

/** Quantizes `model` (modified in place) and says what it did. */
export function quantizeDynamic(model: ModelProto, options: QuantizeOptions = {}): QuantizeReport {
  const form = options.form ?? 'integer';
  const g = model.graph;
  if (!g) throw new GraphError('model has no graph');
  const opset = defaultOpset(model);
  // DynamicQuantizeLinear and MatMulInteger are opset 11; per-axis DequantizeLinear is opset 13.
  const needed = form === 'qdq' ? 13 : 11;
  if (opset < needed) throw new GraphError(`model imports opset ${opset}; '${form}' quantization needs opset ${needed} or newer (re-export with a newer opset)`);
  return new DynamicQuantizer(g, form, options.embeddings ?? false, opset).run();
}

class DynamicQuantizer {
  private readonly inits = new Map<string, TensorProto>();
  private readonly producer = new Map<string, NodeProto>();
  private readonly graphInputs: Set<string>;
  private readonly names = new Set<string>();
  private readonly added: TensorProto[] = [];
  /** Quantized weights by source + orientation, so a weight read by several nodes is stored once. */
  private readonly weightCache = new Map<string, QuantizedEntry>();
  /** Initializers replaced (quantized weights, rescaled biases): dropped at the end when nothing reads them any more. */
  private readonly sources = new Set<string>();
  /** DynamicQuantizeLinear outputs by activation name, shared by the nodes reading one activation (Q, K, V). */
  private readonly activationCache = new Map<string, { q: string; scale: string; zp: string; dequantized?: string }>();
  private readonly folded = new Set<NodeProto>();
  private readonly report: QuantizeReport;
  /** Constant [V, D] tables that Gathers read (filled when embeddings are quantized). */
  private readonly tables = new Map<string, Weight>();
  /** Per table: its int8 rows transposed to [D, V] in the graph, with 1-D scales, for tied MatMuls. */
  private readonly tiedCache = new Map<string, QuantizedEntry>();

  constructor(
    private readonly g: GraphProto,
    private readonly form: QuantizeForm,
    private readonly embeddings: boolean,
    private readonly opset: number,
  ) {
    for (const t of g.initializer) this.inits.set(t.name!, t);
    for (const n of g.node) for (const o of n.output) this.producer.set(o, n);
    // An initializer that is also a graph input can be overridden at run time: not a constant.
    this.graphInputs = new Set(g.input.map((v) => v.name!));
    for (const n of g.node) for (const o of [...n.input, ...n.output]) this.names.add(o);
    for (const t of g.initializer) this.names.add(t.name!);
    this.report = { form, quantized: { MatMul: [], Gemm: [], Gather: [] }, skipped: [], tied: [] };
    if (embeddings) this.findTables();
  }

  run(): QuantizeReport {
    const out: NodeProto[] = [];
    for (const n of this.g.node) {
      const replacement = this.rewrite(n, out);
      out.push(...(replacement ?? [n]));
    }
    this.g.node = out;
    this.g.initializer.push(...this.added);
    this.dropUnused();
    return this.report;
  }

  private fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  private skip(n: NodeProto, why: string): undefined {
    this.report.skipped.push({ node: n.name || n.output[0]!, why });
    return undefined;
  }

  /** New nodes for `n`, or undefined to keep it. Shared helper nodes are pushed to `out` before first use. */
  private rewrite(n: NodeProto, out: NodeProto[]): NodeProto[] | undefined {
    if (!isStandardDomain(n.domain)) return undefined;
    if (n.opType === 'MatMul') return this.matmul(n, out);
    if (n.opType === 'Gemm') return this.gemm(n, out);
    if (n.opType === 'Gather' && this.embeddings) return this.gather(n, out);
    return undefined;
  }

  /**
   * The name `name` copies through Identity nodes, which torch's exporter puts in front of a weight that
   * several layers share (ALBERT's one layer applied N times); the Identities passed are added to `via`.
   */
  private throughIdentities(name: string, via: NodeProto[]): string {
    for (let p = this.producer.get(name); p?.opType === 'Identity' && isStandardDomain(p.domain); p = this.producer.get(name)) {
      via.push(p);
      name = p.input[0]!;
    }
    return name;
  }

  /** The initializer behind `name`, through Identities (not one a graph input can override). */
  private constant(name: string, via: NodeProto[]): { name: string; tensor: TensorProto } | undefined {
    const source = this.throughIdentities(name, via);
    const tensor = this.graphInputs.has(source) ? undefined : this.inits.get(source);
    return tensor && { name: source, tensor };
  }

  /** The constant 2-D float matrix behind `name` (an initializer or a 2-D Transpose of one, through Identities). */
  private weight(name: string): Weight | undefined {
    const via: NodeProto[] = [];
    const source = this.throughIdentities(name, via);
    const c = this.constant(source, via);
    if (c) {
      if (!is2dFloat(c.tensor)) return undefined;
      const [rows, cols] = tensorDims(c.tensor) as [number, number];
      return { values: tensorToFloat32(c.tensor), rows, cols, source: c.name, transposed: false, via };
    }
    const p = this.producer.get(source);
    if (!p || p.opType !== 'Transpose' || !isStandardDomain(p.domain)) return undefined;
    via.push(p);
    const src = this.constant(p.input[0]!, via);
    const perm = attrOf(p, 'perm')?.ints?.map(toNumber);
    if (!src || !is2dFloat(src.tensor) || (perm && !(perm[0] === 1 && perm[1] === 0))) return undefined;
    const [r, c2] = tensorDims(src.tensor) as [number, number];
    return { values: transpose(tensorToFloat32(src.tensor), r, c2), rows: c2, cols: r, source: src.name, transposed: true, via };
  }

  /** Why the B input `name` is not a weight to quantize. */
  private whyNotWeight(name: string): string {
    const c = this.constant(name, []);
    if (c) return `input B is a constant ${dtypeName(c.tensor.dataType)} tensor of rank ${c.tensor.dims.length}, not a 2-D float32 matrix`;
    return 'input B is computed at run time: activation x activation, as in attention';
  }

  /**
   * int8 values + per-channel scales of a weight (channel = `axis` of the matrix as given), stored once.
   * Scales are 1-D except for gathered tables, whose [V, 1] scales broadcast over each gathered row.
   */
  private quantizedWeight(w: Weight, key: string, axis: 0 | 1, tableScales = false): QuantizedEntry {
    const cacheKey = `${key}|${axis}|${tableScales}`;
    let e = this.weightCache.get(cacheKey);
    if (!e) {
      const { values, scales } = quantizeSymmetric(w.values, w.rows, w.cols, axis);
      const q = this.fresh(`${key}_quantized`);
      const scale = this.fresh(`${key}_scale`);
      this.added.push(makeTensor(q, DataType.INT8, [w.rows, w.cols], values));
      // Per-row scales of a table are [V, 1] so that the gathered scales broadcast over the row.
      this.added.push(makeTensor(scale, DataType.FLOAT, tableScales ? [scales.length, 1] : [scales.length], scales));
      e = { q, scale, scales };
      this.sources.add(w.source);
      this.weightCache.set(cacheKey, e);
    }
    for (const n of w.via) this.folded.add(n);
    return e;
  }

  private dequantizedWeight(w: Weight, key: string, axis: 0 | 1, prefix: string, out: NodeProto[]): string {
    return this.dequantized(this.quantizedWeight(w, key, axis), key, axis, prefix, out);
  }

  private dequantized(e: QuantizedEntry, key: string, axis: 0 | 1, prefix: string, out: NodeProto[]): string {
    if (!e.dequantized) {
      e.dequantized = this.fresh(`${key}_dequantized`);
      out.push(node('DequantizeLinear', [e.q, e.scale], [e.dequantized], this.fresh(`${prefix}/DequantizeLinear_weight`), [makeAttribute('axis', axis)]));
    }
    return e.dequantized;
  }

  private activation(x: string, prefix: string, out: NodeProto[]) {
    let e = this.activationCache.get(x);
    if (!e) {
      e = { q: this.fresh(`${x}_quantized`), scale: this.fresh(`${x}_scale`), zp: this.fresh(`${x}_zero_point`) };
      out.push(node('DynamicQuantizeLinear', [x], [e.q, e.scale, e.zp], this.fresh(`${prefix}/DynamicQuantizeLinear`)));
      this.activationCache.set(x, e);
    }
    return e;
  }

  private dequantizedActivation(x: string, prefix: string, out: NodeProto[]): string {
    const e = this.activation(x, prefix, out);
    if (!e.dequantized) {
      e.dequantized = this.fresh(`${x}_dequantized`);
      out.push(node('DequantizeLinear', [e.q, e.scale, e.zp], [e.dequantized], this.fresh(`${prefix}/DequantizeLinear_input`)));
    }
    return e.dequantized;
  }

  /** MatMulInteger + rescale: y = (x_q - x_zp) W_q * (x_scale * w_scale) [* alpha] [+ bias]. */
  private integerMatMul(prefix: string, x: string, wq: QuantizedEntry, y: string, out: NodeProto[], alpha = 1, bias?: string): NodeProto[] {
    const a = this.activation(x, prefix, out);
    let wScale = wq.scale;
    if (alpha !== 1) {
      const scaled = Float32Array.from(wq.scales, (s) => s * alpha);
      wScale = this.fresh(`${wq.scale}_alpha`);
      this.added.push(makeTensor(wScale, DataType.FLOAT, [scaled.length], scaled));
    }
    const acc = this.fresh(`${prefix}/MatMulInteger_output`);
    const accF = this.fresh(`${prefix}/Cast_output`);
    const scale = this.fresh(`${prefix}/scale`);
    const product = bias ? this.fresh(`${prefix}/Mul_output`) : y;
    const nodes = [
      node('MatMulInteger', [a.q, wq.q, a.zp], [acc], this.fresh(`${prefix}/MatMulInteger`)),
      node('Cast', [acc], [accF], this.fresh(`${prefix}/Cast`), [makeAttribute('to', DataType.FLOAT)]),
      node('Mul', [a.scale, wScale], [scale], this.fresh(`${prefix}/Mul_scale`)),
      node('Mul', [accF, scale], [product], this.fresh(`${prefix}/Mul`)),
    ];
    if (bias) nodes.push(node('Add', [product, bias], [y], this.fresh(`${prefix}/Add_bias`)));
    return nodes;
  }

  private matmul(n: NodeProto, out: NodeProto[]): NodeProto[] | undefined {
    const w = this.weight(n.input[1]!);
    if (!w) return this.skip(n, this.whyNotWeight(n.input[1]!));
    const prefix = n.name || n.output[0]!;
    const key = w.transposed ? `${w.source}_transposed` : w.source;
    this.report.quantized.MatMul.push(prefix);
    const tied = this.tiedWeight(w, prefix, out);
    if (this.form === 'integer') return this.integerMatMul(prefix, n.input[0]!, tied ?? this.quantizedWeight(w, key, 1), n.output[0]!, out);
    const x = this.dequantizedActivation(n.input[0]!, prefix, out);
    const wf = tied ? this.dequantized(tied, `${key}_tied`, 1, prefix, out) : this.dequantizedWeight(w, key, 1, prefix, out);
    return [{ ...n, input: [x, wf] }];
  }

  private gemm(n: NodeProto, out: NodeProto[]): NodeProto[] | undefined {
    const prefix = n.name || n.output[0]!;
    if (intAttr(n, 'transA', 0) !== 0) return this.skip(n, 'transA=1 (the activation would need a transpose)');
    const w = this.weight(n.input[1]!);
    if (!w) return this.skip(n, this.whyNotWeight(n.input[1]!));
    const transB = intAttr(n, 'transB', 0) !== 0;
    const key = w.transposed ? `${w.source}_transposed` : w.source;
    if (this.form === 'qdq') {
      // Gemm keeps its attributes; only B is read through DequantizeLinear, channel = output feature.
      this.report.quantized.Gemm.push(prefix);
      const x = this.dequantizedActivation(n.input[0]!, prefix, out);
      const wf = this.dequantizedWeight(w, key, transB ? 0 : 1, prefix, out);
      return [{ ...n, input: [x, wf, ...n.input.slice(2)] }];
    }
    const alpha = floatAttr(n, 'alpha', 1);
    const beta = floatAttr(n, 'beta', 1);
    const c = n.input[2];
    let bias: string | undefined;
    if (c) {
      const ct = this.graphInputs.has(c) ? undefined : this.inits.get(c);
      if (beta !== 1 && !(ct && ct.dataType === DataType.FLOAT)) return this.skip(n, `beta=${beta} on a bias that is not a constant`);
      if (ct && beta !== 1) {
        bias = this.fresh(`${c}_beta`);
        this.added.push(makeTensor(bias, DataType.FLOAT, tensorDims(ct), Float32Array.from(tensorToFloat32(ct), (v) => v * beta)));
        this.sources.add(c);
      } else bias = c;
    }
    this.report.quantized.Gemm.push(prefix);
    const kn: Weight = transB ? { ...w, values: transpose(w.values, w.rows, w.cols), rows: w.cols, cols: w.rows } : w;
    const wq = this.tiedWeight(kn, prefix, out) ?? this.quantizedWeight(kn, transB ? `${key}_kn` : key, 1);
    return this.integerMatMul(prefix, n.input[0]!, wq, n.output[0]!, out, alpha, bias);
  }

  private gather(n: NodeProto, out: NodeProto[]): NodeProto[] | undefined {
    const via: NodeProto[] = [];
    const c = this.constant(n.input[0]!, via);
    if (!c) return undefined; // a Gather on activations or shapes, not a table
    const table = c.tensor;
    const prefix = n.name || n.output[0]!;
    if (!is2dFloat(table)) return this.skip(n, `table is a ${dtypeName(table.dataType)} tensor of rank ${table.dims.length}, not a 2-D float32 matrix`);
    if (intAttr(n, 'axis', 0) !== 0) return this.skip(n, 'gathers along axis 1, not rows');
    const w = this.tables.get(c.name)!;
    for (const v of via) this.folded.add(v);
    this.report.quantized.Gather.push(prefix);
    const e = this.tableEntry(w);
    if (this.dequantizesWhole(w)) return [{ ...n, input: [this.dequantized(e, c.name, 0, prefix, out), n.input[1]!] }];
    const q = this.fresh(`${prefix}/Gather_quantized_output`);
    const s = this.fresh(`${prefix}/Gather_scale_output`);
    const qf = this.fresh(`${prefix}/Cast_output`);
    return [
      node('Gather', [e.q, n.input[1]!], [q], this.fresh(`${prefix}/Gather_quantized`)),
      node('Gather', [e.scale, n.input[1]!], [s], this.fresh(`${prefix}/Gather_scale`)),
      node('Cast', [q], [qf], this.fresh(`${prefix}/Cast`), [makeAttribute('to', DataType.FLOAT)]),
      node('Mul', [qf, s], [n.output[0]!], this.fresh(`${prefix}/Mul`)),
    ];
  }

  /** The constant 2-D float tables that row Gathers read: the embeddings to quantize. */
  private findTables(): void {
    for (const n of this.g.node) {
      if (n.opType !== 'Gather' || !isStandardDomain(n.domain) || intAttr(n, 'axis', 0) !== 0) continue;
      const c = this.constant(n.input[0]!, []);
      if (!c || !is2dFloat(c.tensor) || this.tables.has(c.name)) continue;
      const [rows, cols] = tensorDims(c.tensor) as [number, number];
      this.tables.set(c.name, { values: tensorToFloat32(c.tensor), rows, cols, source: c.name, transposed: false, via: [] });
    }
  }

  /** A table of at most WHOLE_TABLE_MAX_VALUES values is dequantized whole (per-axis DequantizeLinear: opset 13). */
  private dequantizesWhole(t: Weight): boolean {
    return t.rows * t.cols <= WHOLE_TABLE_MAX_VALUES && this.opset >= 13;
  }

  /** A table's int8 rows and per-row scales ([V] when dequantized whole, [V, 1] when gathered row by row). */
  private tableEntry(t: Weight): QuantizedEntry {
    return this.quantizedWeight(t, t.source, 0, !this.dequantizesWhole(t));
  }

  /**
   * The int8 weight of a MatMul/Gemm whose [K, N] matrix `w` is an embedding table transposed (tied input and
   * output embeddings: a Transpose of the table in a dynamo export, a transposed copy in a TorchScript one),
   * or undefined. Per-column scales of the table's transpose are its per-row scales and the int8 values are the
   * same, so the MatMul reads Transpose(table_q): the file keeps one int8 copy, and ONNX Runtime folds the
   * Transpose of a constant when it loads the model.
   */
  private tiedWeight(w: Weight, prefix: string, out: NodeProto[]): QuantizedEntry | undefined {
    const table = [...this.tables.values()].find((t) => t.rows === w.cols && t.cols === w.rows && isTransposeOf(w.values, t.values, t.rows, t.cols));
    if (!table) return undefined;
    let e = this.tiedCache.get(table.source);
    if (!e) {
      const rows = this.tableEntry(table);
      const q = this.fresh(`${table.source}_quantized_transposed`);
      out.push(node('Transpose', [rows.q], [q], this.fresh(`${table.source}/Transpose_quantized`), [makeAttribute('perm', [1, 0])]));
      // The MatMul's scales are 1-D; a row-wise table's are [V, 1].
      let scale = rows.scale;
      if (!this.dequantizesWhole(table)) {
        scale = this.fresh(`${table.source}_scale_1d`);
        this.added.push(makeTensor(scale, DataType.FLOAT, [rows.scales.length], rows.scales));
      }
      e = { q, scale, scales: rows.scales };
      this.tiedCache.set(table.source, e);
    }
    this.sources.add(w.source);
    for (const v of w.via) this.folded.add(v);
    this.report.tied.push({ node: prefix, table: table.source });
    return e;
  }

  /** Drops folded Identities and Transposes, and float weights, that no node, subgraph or graph output reads any more. */
  private dropUnused(): void {
    const used = new Set<string>(this.g.output.map((v) => v.name!));
    const visit = (g: GraphProto) => {
      for (const n of g.node) {
        if (this.folded.has(n)) continue;
        for (const i of n.input) used.add(i);
        for (const body of subgraphsOf(n.attribute)) visit(body);
      }
    };
    visit(this.g);
    // A folded node whose output something else still reads stays, and so does the chain feeding it.
    const keep: NodeProto[] = [];
    for (let grew = true; grew;) {
      grew = false;
      for (const n of this.folded) {
        if (keep.includes(n) || !n.output.some((o) => used.has(o))) continue;
        keep.push(n);
        for (const i of n.input) used.add(i);
        grew = true;
      }
    }
    this.g.node = this.g.node.filter((n) => !this.folded.has(n) || keep.includes(n));
    const candidates = [...this.sources, ...this.added.map((t) => t.name!)];
    const removed = new Set(candidates.filter((name) => !used.has(name)));
    this.g.initializer = this.g.initializer.filter((t) => !removed.has(t.name!));
    for (const n of this.folded) if (!keep.includes(n)) for (const o of n.output) removed.add(o);
    this.g.valueInfo = this.g.valueInfo.filter((v) => !removed.has(v.name!));
  }
}

/** Whether `kn` ([K, N]) is exactly the transpose of `table` ([N, K]), value for value. */
function isTransposeOf(kn: Float32Array, table: Float32Array, n: number, k: number): boolean {
  for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) if (kn[c * n + r] !== table[r * k + c]) return false;
  return true;
}
