/**
 * The inference rules by op, one module per op family (as autodiff/rules/): each exports `rules`, and an op
 * two modules claim is an error at load.
 */
import type { InferRule } from './context.js';
import { rules as constants } from './constants.js';
import { rules as elementwise } from './elementwise.js';
import { rules as linalg } from './linalg.js';
import { rules as normalization } from './normalization.js';
import { rules as reduce } from './reduce.js';
import { rules as select } from './select.js';
import { rules as shape } from './shape.js';

function byOp(rules: readonly InferRule[]): ReadonlyMap<string, InferRule> {
  const table = new Map<string, InferRule>();
  for (const r of rules) {
    for (const op of r.ops) {
      if (table.has(op)) throw new Error(`two inference rules for ${op}`);
      table.set(op, r);
    }
  }
  return table;
}

export const INFER_RULES = byOp([...elementwise, ...linalg, ...normalization, ...shape, ...select, ...constants, ...reduce]);
