/** `distill inspect MODEL`: what a model takes, gives, and is made of. */
import type { Argv } from 'yargs';
import { resolveModelPath } from '../onnx/model-io.js';
import { summarizeModel, type ModelSummary } from '../onnx/summary.js';
import { prepareStudent } from '../params/student.js';
import { renderPlan } from './params.js';
import { gradCoverage, renderCoverage } from '../autodiff/coverage.js';
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
    `  parameters: ${formatCount(s.parameters)} float${s.quantizedValues ? ` and ${formatCount(s.quantizedValues)} int8` : ''} values in ${s.initializers} initializers (${formatBytes(s.parameterBytes)} of weights)`,
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
        .positional('model', { type: 'string', demandOption: true, describe: 'a .onnx file, or a model folder (its model.onnx or onnx/model.onnx)' })
        .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' })
        .option('params', { type: 'boolean', default: false, describe: "the parameters PyTorch trains: HF names, uses, ties, untied copies, and what is held constant and why" })
        .option('grad-coverage', { type: 'boolean', default: false, describe: 'the ops on the path from the trainable parameters to the outputs without a gradient rule, with node names (exit code 3 if any)' })
        .option('hf-model', { type: 'string', describe: 'with --params or --grad-coverage: Hugging Face folder (config.json, model.safetensors) of the model (default: its folder)' })
        .option('trainable', { type: 'string', array: true, default: [], describe: 'with --params or --grad-coverage: initializer globs to train although they look like constants' }),
    (args) => {
      const file = resolveModelPath(args.model as string);
      if (args['grad-coverage']) {
        const student = prepareStudent(file, { hfModel: args['hf-model'], trainable: args.trainable as string[] });
        const params = new Set(student.plan.parameters.map((p) => p.initializer));
        const coverage = gradCoverage(student.model, student.model.graph.initializers.filter((v) => params.has(v.name)));
        process.stdout.write(args.json ? `${JSON.stringify({ file, ...coverage }, null, 2)}\n` : `${renderCoverage(file, coverage)}\n`);
        if (coverage.uncovered.length) process.exitCode = 3;
        return;
      }
      if (args.params) {
        const student = prepareStudent(file, { hfModel: args['hf-model'], trainable: args.trainable as string[] });
        process.stdout.write(args.json ? `${JSON.stringify(student.plan, null, 2)}\n` : `${renderPlan(student)}\n`);
        return;
      }
      const summary = summarizeModel(file);
      process.stdout.write(args.json ? `${JSON.stringify(summary, null, 2)}\n` : `${renderSummary(summary)}\n`);
    },
  );
}
