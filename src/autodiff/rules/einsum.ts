/**
 * Einsum, for equations without ellipsis and without a letter repeated within one operand (diagonals).
 *
 * The output is linear in each operand, so the gradient of operand k is itself an Einsum: the output gradient
 * contracted with the other operands, producing operand k's subscripts. Letters that occur only in operand k
 * were summed away in the forward pass; the gradient is constant along them, so they come back with
 * Unsqueeze + Expand to operand k's shape. With one operand the gradient needs no contraction: it is a
 * Transpose (or nothing).
 *   e.g. 'bhqd,bhkd->bhqk':  dQ = Einsum('bhqk,bhkd->bhqd', dY, K),  dK = Einsum('bhqk,bhqd->bhkd', dY, Q)
 *        'ij->i':            dX = Expand(Unsqueeze(dY, [1]), Shape(X))
 * Letters of the same name must have the same size in every operand (no size-1 broadcasting between them).
 */
import { GraphError } from '../../errors.js';
import type { Node, Value } from '../../ir/graph.js';
import type { GradRule } from '../rule.js';

interface Equation {
  terms: string[];
  out: string;
}

function parseEquation(node: Node): Equation {
  const eq = node.attrs.string('equation').replace(/\s/g, '');
  const fail = (why: string) => new GraphError(`${node.describe()}: cannot differentiate Einsum '${eq}': ${why}`);
  if (eq.includes('.')) throw fail('ellipsis (...) subscripts are not supported; write the axes out');
  const [lhs, rhs, extra] = eq.split('->');
  if (extra !== undefined || lhs === undefined) throw fail('malformed equation');
  const terms = lhs.split(',');
  if (terms.length !== node.inputs.length) throw fail(`${terms.length} terms for ${node.inputs.length} inputs`);
  for (const t of [...terms, rhs ?? '']) {
    if (!/^[A-Za-z]*$/.test(t)) throw fail(`bad subscripts '${t}'`);
    if (new Set(t).size !== t.length) throw fail(`subscripts '${t}' repeat a letter (diagonals are not supported)`);
  }
  // Implicit mode: the output holds the letters used exactly once, in alphabetical order.
  const out = rhs ?? [...new Set(lhs.replace(/,/g, ''))].filter((ch) => lhs.split(ch).length === 2).sort().join('');
  return { terms, out };
}

const einsum: GradRule = {
  ops: ['Einsum'],
  differentiable: 'all',
  backward: (c) => {
    const { b, node } = c;
    const g = c.dy(0)!;
    const { terms, out } = parseEquation(node);
    return terms.map((term, k) => {
      if (!c.needs(k)) return null;
      const others = terms.map((t, j) => ({ t, j })).filter(({ j }) => j !== k);
      const avail = new Set(out + others.map(({ t }) => t).join(''));
      const kept = [...term].filter((ch) => avail.has(ch)).join('');
      const dropped = [...term].flatMap((ch, i) => (avail.has(ch) ? [] : [i]));
      let grad: Value;
      if (others.length === 0) {
        // One operand: `kept` is a permutation of the output's letters.
        const perm = [...kept].map((ch) => out.indexOf(ch));
        grad = perm.every((p, i) => p === i) ? g : b.transpose(g, perm);
      } else {
        const equation = `${[out, ...others.map(({ t }) => t)].join(',')}->${kept}`;
        grad = b.op('Einsum', [g, ...others.map(({ j }) => c.x(j))], { equation });
      }
      if (dropped.length) grad = b.op('Expand', [b.unsqueeze(grad, dropped), b.shape(c.x(k))]);
      return grad;
    });
  },
};

export const rules: readonly GradRule[] = [einsum];
