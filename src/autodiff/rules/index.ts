/**
 * The gradient rule registry: every rule family, one table. Adding an op = one rule in its family's file
 * (or a new file) and, for a new file, one line here.
 */
import type { Node } from '../../ir/graph.js';
import type { GradRule, PatternRule } from '../rule.js';
import { rules as arithmetic } from './arithmetic.js';
import { rules as unary } from './unary.js';
import { patterns as activationPatterns, rules as activations } from './activations.js';
import { rules as passthrough } from './passthrough.js';
import { rules as where } from './where.js';
import { rules as matmul } from './matmul.js';
import { rules as gemm } from './gemm.js';
import { rules as einsum } from './einsum.js';
import { rules as softmax } from './softmax.js';
import { rules as layernorm } from './layernorm.js';
import { rules as reduce } from './reduce.js';
import { rules as reshape } from './reshape.js';
import { rules as transpose } from './transpose.js';
import { rules as expand } from './expand.js';
import { rules as concat } from './concat.js';
import { rules as split } from './split.js';
import { rules as slice } from './slice.js';
import { rules as gather } from './gather.js';
import { rules as tile } from './tile.js';
import { rules as pad } from './pad.js';
import { rules as gatherND } from './gather-nd.js';
import { isStandardDomain } from '../../onnx/ops.js';

const ALL: readonly GradRule[] = [
  ...arithmetic, ...unary, ...activations, ...passthrough, ...where,
  ...matmul, ...gemm, ...einsum, ...softmax, ...layernorm, ...reduce,
  ...reshape, ...transpose, ...expand, ...concat, ...split, ...slice, ...gather,
  ...tile, ...pad, ...gatherND,
];

const TABLE = new Map<string, GradRule>();
for (const rule of ALL) {
  for (const op of rule.ops) {
    if (TABLE.has(op)) throw new Error(`two gradient rules claim ${op}`);
    TABLE.set(op, rule);
  }
}

/** Rules for whole subgraphs (rule.ts, PatternRule), tried at their last node before its op's rule. */
const PATTERNS: readonly PatternRule[] = [...activationPatterns];

/** The pattern rules whose last node can be `node`. */
export function patternsEndingAt(node: Node): PatternRule[] {
  if (!isStandardDomain(node.domain)) return [];
  return PATTERNS.filter((p) => p.root === node.opType);
}

/** The rule for a node, or undefined if its op (or domain) has none. */
export function ruleFor(node: Node): GradRule | undefined {
  if (!isStandardDomain(node.domain)) return undefined;
  return TABLE.get(node.opType);
}

/** What the pattern rules recognize, for docs. */
export function differentiablePatterns(): string[] {
  return PATTERNS.map((p) => p.name);
}

/** Op types with a gradient rule, for docs and `distill inspect`. */
export function differentiableOps(): string[] {
  return [...TABLE.keys()].sort();
}
