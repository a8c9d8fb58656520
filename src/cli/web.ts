/** `distill web`: the browser training page on a local server (docs/BROWSER.md). */
import type { Argv } from 'yargs';
import { startWebDemo } from '../demo/web-demo.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'web',
    'Serve the browser training page: the demo (or your artifacts folder) trained by onnxruntime-web in the browser',
    (y) =>
      y
        .option('port', { type: 'number', default: 8080 })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (0.0.0.0 for other machines)' })
        .option('dir', { type: 'string', default: 'web-demo', describe: 'where the demo artifacts and data are written' })
        .option('artifacts', { type: 'string', describe: "your artifacts folder ('distill build' output plus teacher.onnx, tokenizer.json, train.jsonl, eval.jsonl), served as user/" }),
    async (a) => {
      const server = await startWebDemo({ dir: a.dir, port: a.port, host: a.host, artifacts: a.artifacts });
      const user = a.artifacts ? `; your artifacts: ${server.url}?folder=user/` : '';
      process.stderr.write(`the demo's artifacts, teacher and rows: ${a.dir}/cpu (WASM) and ${a.dir}/gpu (WebGPU)\n`);
      process.stdout.write(`open ${server.url} (WASM) or ${server.url}?ep=webgpu${user}; Ctrl-C stops the server\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      await server.close();
    },
  );
}
