/**
 * Whether train_step.onnx may write each updated parameter and optimizer state tensor into the buffer of the
 * input it replaces (TrainerSession's low-memory mode). ONNX has no in-place semantics; ORT runs nodes in an
 * order that respects data dependencies and nothing more. Overwriting input x with output y is therefore
 * safe exactly when every node that reads x is y's producer or one of its ancestors: then every read of x is
 * done before y is written, in any valid order.
 *
 * The training step satisfies this by construction (each update depends, through the global gradient norm,
 * on all gradients and hence on every forward and backward use of every parameter), but the build checks it
 * rather than assuming it, and the manifest records the answer.
 *
 * A reader of x also means a reader of any view of x: ORT runs Reshape, Flatten, Squeeze and Unsqueeze
 * without a copy where it can, so their outputs may share x's buffer (a chunked parameter is read by the
 * model through such a Reshape; see optim/chunked.ts).
 */
import type { Graph, Node, Value } from '../ir/graph.js';
import { hasTrait, isStandardDomain } from '../onnx/ops.js';

/** Every node that reads `x` or a view of it. */
function readers(x: Value): Node[] {
  const out: Node[] = [];
  const seen = new Set<Value>([x]);
  const stack = [x];
  while (stack.length > 0) {
    const v = stack.pop()!;
    for (const n of v.uses) {
      out.push(n);
      const view = n.outputs[0];
      if (hasTrait(n.opType, 'view') && isStandardDomain(n.domain) && n.inputs[0] === v && view && !seen.has(view)) {
        seen.add(view);
        stack.push(view);
      }
    }
  }
  return out;
}

/** Pairs (input, output) of `g` that may NOT share a buffer, with the first offending reader of each. */
export function inPlaceViolations(g: Graph, pairs: readonly { input: string; output: string }[]): string[] {
  const ancestors = new Map<Node, Set<Node>>();
  const ancestorsOf = (start: Node): Set<Node> => {
    let hit = ancestors.get(start);
    if (hit) return hit;
    hit = new Set<Node>();
    const stack: Node[] = [start];
    while (stack.length > 0) {
      const n = stack.pop()!;
      for (const v of [...n.inputs, ...n.implicitInputs]) {
        const p = v?.producer;
        if (p && !hit.has(p)) {
          hit.add(p);
          stack.push(p);
        }
      }
    }
    ancestors.set(start, hit);
    return hit;
  };
  const bad: string[] = [];
  for (const { input, output } of pairs) {
    const x = g.get(input);
    const y = g.get(output);
    const writer = y?.producer;
    if (!x || !writer) {
      bad.push(`${input} -> ${output}: ${!x ? 'no such input' : 'the output is not computed by a node'}`);
      continue;
    }
    const before = ancestorsOf(writer);
    const late = readers(x).find((n) => n !== writer && !before.has(n));
    if (late) bad.push(`${input} -> ${output}: ${late.describe()} may read the input after the output is written`);
  }
  return bad;
}
