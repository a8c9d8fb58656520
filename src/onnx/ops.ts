/**
 * What the code knows about ONNX ops in one place: which domain is the standard one, and a table of op
 * traits (elementwise, broadcasting, reduction, ...) that type inference, the graph passes and the step's
 * checks look up instead of keeping their own lists. An op missing from the table, or a trait missing from
 * its row, means "not known to have it": every user treats that as the safe answer.
 */

/** Whether `domain` is the standard ai.onnx domain, which a model may also write as '' (or leave unset). */
export function isStandardDomain(domain: string | null | undefined): boolean {
  return !domain || domain === 'ai.onnx';
}

/** The op type, prefixed with its domain outside ai.onnx (`com.microsoft.FusedGemm`), for reports and counts. */
export function qualifiedOpType(node: { opType?: string; domain?: string | null }): string {
  const op = node.opType ?? '';
  return isStandardDomain(node.domain) ? op : `${node.domain}.${op}`;
}

export type OpTrait =
  /** Each output element follows from the elements at the same position of the (broadcast) inputs. */
  | 'elementwise'
  /** The output has input 0's element type and shape. */
  | 'sameTypeAsInput'
  /** The inputs broadcast numpy-style to the output's shape; the output has input 0's element type. */
  | 'broadcast'
  /** A broadcasting comparison or logical op: the output is boolean. */
  | 'comparison'
  /** Reduces over `axes` (or, for ArgMax/ArgMin, `axis`), keeping or dropping them by `keepdims`. */
  | 'reduction'
  /** The output holds input 0's elements in the same order (a view of its buffer in ORT). */
  | 'view'
  /** Elementwise and cheap enough to recompute in the backward: one pass over the output, no reduction. */
  | 'cheap';

/** ai.onnx ops (and FastGelu, which exporters write without a domain) with the traits the code relies on. */
const OP_TRAITS: Readonly<Record<string, readonly OpTrait[]>> = {
  // Binary arithmetic.
  Add: ['elementwise', 'broadcast', 'cheap'],
  Sub: ['elementwise', 'broadcast', 'cheap'],
  Mul: ['elementwise', 'broadcast', 'cheap'],
  Div: ['elementwise', 'broadcast', 'cheap'],
  Pow: ['elementwise', 'broadcast', 'cheap'],
  Max: ['elementwise', 'broadcast'],
  Min: ['elementwise', 'broadcast'],
  Sum: ['elementwise', 'broadcast'],
  Mean: ['elementwise', 'broadcast'],
  Mod: ['broadcast'],
  PRelu: ['broadcast'],
  BitShift: ['broadcast'],
  Where: ['elementwise'],
  // Comparisons and logic.
  Equal: ['elementwise', 'comparison'],
  Less: ['elementwise', 'comparison'],
  Greater: ['elementwise', 'comparison'],
  LessOrEqual: ['elementwise', 'comparison'],
  GreaterOrEqual: ['elementwise', 'comparison'],
  And: ['elementwise', 'comparison'],
  Or: ['elementwise', 'comparison'],
  Xor: ['comparison'],
  Not: ['elementwise', 'sameTypeAsInput'],
  IsNaN: ['elementwise'],
  IsInf: ['elementwise'],
  // Unary math and activations.
  Identity: ['elementwise', 'sameTypeAsInput', 'view'],
  Cast: ['elementwise'],
  Neg: ['elementwise', 'sameTypeAsInput', 'cheap'],
  Abs: ['elementwise', 'sameTypeAsInput', 'cheap'],
  Exp: ['elementwise', 'sameTypeAsInput', 'cheap'],
  Log: ['elementwise', 'sameTypeAsInput'],
  Sqrt: ['elementwise', 'sameTypeAsInput', 'cheap'],
  Reciprocal: ['elementwise', 'sameTypeAsInput', 'cheap'],
  Erf: ['elementwise', 'sameTypeAsInput', 'cheap'],
  Tanh: ['elementwise', 'sameTypeAsInput', 'cheap'],
  Sigmoid: ['elementwise', 'sameTypeAsInput', 'cheap'],
  Relu: ['elementwise', 'sameTypeAsInput', 'cheap'],
  LeakyRelu: ['elementwise', 'sameTypeAsInput'],
  Gelu: ['elementwise', 'sameTypeAsInput'],
  FastGelu: ['sameTypeAsInput'],
  Softplus: ['elementwise', 'sameTypeAsInput'],
  Elu: ['elementwise', 'sameTypeAsInput'],
  Selu: ['elementwise', 'sameTypeAsInput'],
  Celu: ['elementwise', 'sameTypeAsInput'],
  HardSigmoid: ['elementwise', 'sameTypeAsInput'],
  HardSwish: ['elementwise', 'sameTypeAsInput'],
  Mish: ['elementwise', 'sameTypeAsInput'],
  Sign: ['elementwise', 'sameTypeAsInput'],
  Sin: ['elementwise', 'sameTypeAsInput'],
  Cos: ['elementwise', 'sameTypeAsInput'],
  Floor: ['elementwise', 'sameTypeAsInput'],
  Ceil: ['elementwise', 'sameTypeAsInput'],
  Round: ['elementwise', 'sameTypeAsInput'],
  Clip: ['elementwise', 'sameTypeAsInput'],
  // Same shape, but an element depends on others.
  Softmax: ['sameTypeAsInput'],
  LogSoftmax: ['sameTypeAsInput'],
  CumSum: ['sameTypeAsInput'],
  Trilu: ['sameTypeAsInput'],
  ScatterND: ['sameTypeAsInput'],
  ScatterElements: ['sameTypeAsInput'],
  // Reductions.
  ReduceSum: ['reduction'],
  ReduceMean: ['reduction'],
  ReduceMax: ['reduction'],
  ReduceMin: ['reduction'],
  ReduceProd: ['reduction'],
  ReduceL1: ['reduction'],
  ReduceL2: ['reduction'],
  ReduceSumSquare: ['reduction'],
  ReduceLogSumExp: ['reduction'],
  ArgMax: ['reduction'],
  ArgMin: ['reduction'],
  // Views.
  Reshape: ['view'],
  Flatten: ['view'],
  Squeeze: ['view'],
  Unsqueeze: ['view'],
};

/** Whether the op `opType` (of the standard domain) has `trait`. */
export function hasTrait(opType: string, trait: OpTrait): boolean {
  return Object.hasOwn(OP_TRAITS, opType) && OP_TRAITS[opType]!.includes(trait);
}

/** The ops with `trait`, for reports and tests. */
export function opsWith(trait: OpTrait): ReadonlySet<string> {
  return new Set(Object.keys(OP_TRAITS).filter((op) => OP_TRAITS[op]!.includes(trait)));
}
