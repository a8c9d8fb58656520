/**
 * Which parameters get weight decay, as Hugging Face's Trainer decides it (`Trainer.get_decay_parameter_names`,
 * transformers 5.x): not the parameters of LayerNorm modules, and not those whose lowercased name matches
 * `bias`, `layernorm`, `rmsnorm`, `(^|.)norm($|.)` or `_norm($|.)`. In the graph a LayerNorm module is a
 * LayerNormalization node. Without an HF name, a 1-D tensor added as a bias counts as a bias.
 */
import type { Value } from '../ir/graph.js';
import { usesOf } from './uses.js';

const NO_DECAY_NAME = [/bias/, /layernorm/, /rmsnorm/, /(?:^|\.)norm(?:$|\.)/, /_norm(?:$|\.)/];

export function decays(hfName: string | null, init: Value): boolean {
  const uses = usesOf(init);
  if (uses.some((u) => u.node.opType === 'LayerNormalization' && u.slot > 0)) return false;
  const name = (hfName ?? init.name).toLowerCase();
  if (NO_DECAY_NAME.some((re) => re.test(name))) return false;
  if (hfName === null && (init.initializer?.dims.length ?? 0) === 1 && uses.some((u) => u.node.opType === 'Add')) return false;
  return true;
}
