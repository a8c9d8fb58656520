/** The student's position table (no files: the browser entry point shares it). */
import type { Sidecar } from '../export/sidecar.js';

/**
 * The most tokens a row may have: the position table's size, less RoBERTa's offset (its positions start
 * after the padding id, so two rows of the table are never read by a real token).
 */
export function maxTokens(side: Pick<Partial<Sidecar>, 'max_position_embeddings' | 'model_type'>): number | undefined {
  const n = side.max_position_embeddings;
  if (typeof n !== 'number') return undefined;
  return /roberta|camembert/.test(side.model_type ?? '') ? n - 2 : n;
}
