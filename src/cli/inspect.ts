/** `distill inspect MODEL`: what a model takes, gives, and is made of. */
import type { Argv } from 'yargs';
import { summarizeModel, type ModelSummary } from '../onnx/summary.js';
import { formatBytes, formatCount, formatShape } from '../util/format.js';

export function renderSummary(s: ModelSummary): string {
  const lines: string[] = [];
  const width = Math.max(8, ...[...s.inputs, ...s.outputs].map((v) => v.name.length)) + 2;
  const io = (v: ModelSummary['inputs'][number]) => `    ${v.name.padEnd(width)}${v.dtype.padEnd(9)}${formatShape(v.shape)}`;
  lines.push(`${s.file} (${formatBytes(s.fileBytes)})`);
  lines.push(`  IR version ${s.irVersion}; opsets: ${s.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`);
  if (s.producer) lines.push(`  producer: ${s.producer}`);
  lines.push('  inputs:', ...s.inputs.map(io));
  lines.push('  outputs:', ...s.outputs.map(io));
  lines.push(
    `  parameters: ${formatCount(s.parameters)} float values in ${s.initializers} initializers (${formatBytes(s.parameterBytes)} of weights)`,
  );
  lines.push(
    `  external data: ${s.externalData.length ? s.externalData.map((e) => `${e.file} (${formatBytes(e.bytes)})`).join(', ') : 'none'}`,
  );
  if (s.functions.length) lines.push(`  functions: ${s.functions.join(', ')}`);
  const meta = Object.entries(s.metadata);
  if (meta.length) lines.push(`  metadata: ${meta.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  lines.push(`  ops (${s.nodes} nodes): ${Object.entries(s.ops).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines.join('\n');
}

export function register(cli: Argv): Argv {
  return cli.command(
    'inspect <model>',
    'Show inputs/outputs, versions, op histogram, parameters and external data of an ONNX model',
    (y) =>
      y
        .positional('model', { type: 'string', demandOption: true, describe: 'path to a .onnx file' })
        .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' }),
    (args) => {
      const summary = summarizeModel(args.model as string);
      process.stdout.write(args.json ? `${JSON.stringify(summary, null, 2)}\n` : `${renderSummary(summary)}\n`);
    },
  );
}
