/** `distill quantize --model M.onnx --out DIR`: dynamic int8 quantization (src/quantize/). */
import type { Argv } from 'yargs';
import { resolveModelPath } from '../onnx/model-io.js';
import { QUANTIZE_FORMS, type QuantizeForm } from '../quantize/dynamic.js';
import { quantizeModelFile } from '../quantize/model-file.js';
import { formatBytes } from '../util/format.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'quantize',
    'Dynamic int8 quantization of MatMul/Gemm weights (and optionally embeddings); writes model_quantized.onnx',
    (y) =>
      y
        .option('model', { type: 'string', demandOption: true, describe: 'fp32 ONNX model (e.g. a trained output folder\'s model.onnx)' })
        .option('out', { type: 'string', demandOption: true, describe: 'folder for model_quantized.onnx and onnx/model_quantized.onnx (may be the model\'s own folder)' })
        .option('embeddings', { type: 'boolean', default: false, describe: 'also store embedding tables (Gather on a constant) as int8, one scale per row' })
        .option('keep-names', { type: 'boolean', default: false, describe: 'keep the export\'s internal value/node names and per-node metadata (default: short names; inputs, outputs and weights always keep theirs)' })
        .option('form', { choices: QUANTIZE_FORMS as unknown as string[], default: 'integer', describe: 'integer: DynamicQuantizeLinear + MatMulInteger; qdq: DequantizeLinear in front of float MatMul' }),
    (a) => {
      const r = quantizeModelFile({ model: resolveModelPath(a.model), outDir: a.out, embeddings: a.embeddings, form: a.form as QuantizeForm, keepNames: a.keepNames });
      const q = r.report.quantized;
      const lines = [
        `quantized ${q.MatMul.length} MatMul, ${q.Gemm.length} Gemm${a.embeddings ? `, ${q.Gather.length} embedding Gather` : ''} (${r.report.form} form); ${r.report.skipped.length} left in float`,
        ...r.report.skipped.map((s) => `  float: ${s.node} (${s.why})`),
        ...r.report.tied.map((t) => `  tied: ${t.node} reads the int8 table ${t.table} transposed (stored once)`),
        `${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)} (${(r.bytesBefore / r.bytesAfter).toFixed(2)}x smaller)`,
        ...r.files.map((f) => `wrote ${f}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  );
}
