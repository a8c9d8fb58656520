/** `distill inspect MODEL --params`: the parameter plan, as the builder will train it. */
import type { ParameterPlan } from '../params/plan.js';
import type { PreparedStudent } from '../params/student.js';
import { formatCount } from '../util/format.js';

const SOURCE: Record<ParameterPlan['source'], string> = {
  sidecar: "the model's distill.json sidecar (a lossless export)",
  'hf-files': 'model.safetensors beside the model (matched by value)',
  heuristics: 'heuristics (no model.safetensors beside the model; pass --hf-model DIR for an exact map)',
};

export function renderPlan(s: PreparedStudent): string {
  const { plan } = s;
  const values = plan.parameters.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  const lines = [`${s.file}: ${plan.parameters.length} parameters (${formatCount(values)} values), from ${SOURCE[plan.source]}`];
  const width = Math.max(10, ...plan.parameters.map((p) => p.initializer.length)) + 2;
  for (const p of plan.parameters) {
    const notes = [
      p.hfName && p.hfName !== p.initializer ? `HF ${p.hfName}` : p.hfName ? '' : 'no HF name',
      p.transpose ? 'transposed' : '',
      p.origin !== 'as-exported' ? p.origin : '',
      p.tiedCopies.length ? `tied: ${p.tiedCopies.join(', ')}` : '',
      p.decay ? '' : 'no decay',
      p.paddingRow !== null ? `padding row ${p.paddingRow}` : '',
    ].filter(Boolean);
    lines.push(`  ${p.initializer.padEnd(width)}${JSON.stringify(p.shape).padEnd(14)}${String(p.uses).padStart(3)} use${p.uses === 1 ? ' ' : 's'}  ${notes.join('; ')}`);
  }
  if (plan.constants.length) {
    lines.push(`  held constant (${plan.constants.length}):`);
    for (const c of plan.constants) lines.push(`    ${c.name.padEnd(width - 2)}${JSON.stringify(c.shape).padEnd(14)}${c.why}`);
  }
  if (plan.edits.length) lines.push('  graph edits:', ...plan.edits.map((e) => `    ${e}`));
  if (plan.warnings.length) lines.push('  warnings:', ...plan.warnings.map((w) => `    ${w}`));
  return lines.join('\n');
}
