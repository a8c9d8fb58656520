/** `distill web`: the browser training page on a local server (docs/BROWSER.md). */
import type { Argv } from 'yargs';
import { startWebDemo, type WebDemoServer } from '../demo/web-demo.js';
import { InputError } from '../errors.js';
import { inputChecks, numberOption, readNumber } from './options.js';

/** What to do when the server cannot listen, by errno: each is the user's to fix, not an internal error. */
const LISTEN_ADVICE: Record<string, (o: { port: number; host: string }) => string> = {
  EADDRINUSE: (o) => `--port ${o.port}: another program listens on ${o.host}:${o.port}; pass another --port (0: any free port)`,
  EACCES: (o) => `--port ${o.port}: permission denied on ${o.host} (ports below 1024 need privileges); pass another --port`,
  EADDRNOTAVAIL: (o) => `--host ${o.host}: not an address of this machine; pass --host 127.0.0.1 (or 0.0.0.0 for all)`,
  ENOTFOUND: (o) => `--host ${o.host}: no such host; pass --host 127.0.0.1 (or 0.0.0.0 for all)`,
};

/** The server, or an InputError naming the option when it cannot listen where asked. */
async function serve(o: { dir: string; port: number; host: string; artifacts?: string }): Promise<WebDemoServer> {
  try {
    return await startWebDemo(o);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // Only the server's own calls: an EACCES from writing the demo folder is a file error (util/fs-errors.ts).
    const advice = err.syscall === 'listen' || err.syscall === 'getaddrinfo' ? LISTEN_ADVICE[err.code ?? ''] : undefined;
    throw advice ? new InputError(advice(o)) : e;
  }
}

export function register(cli: Argv): Argv {
  return cli.command(
    'web',
    'Serve the browser training page: the demo (or your artifacts folder) trained by onnxruntime-web in the browser',
    (y) =>
      inputChecks(
        numberOption(y, 'port', { default: 8080, describe: 'port to listen on (0: any free port)' })
          .option('host', { type: 'string', default: '127.0.0.1', requiresArg: true, describe: 'address to listen on (0.0.0.0 for other machines)' })
          .option('dir', { type: 'string', default: 'web-demo', requiresArg: true, describe: 'where the demo artifacts and data are written' })
          .option('artifacts', { type: 'string', requiresArg: true, describe: "your artifacts folder ('distill build' output plus teacher.onnx, tokenizer.json, train.jsonl, eval.jsonl), served as user/" }),
      ),
    async (a) => {
      const port = readNumber('port', a.port, { integer: true, min: 0, max: 65535 });
      const server = await serve({ dir: a.dir, port, host: a.host, artifacts: a.artifacts });
      const user = a.artifacts ? `; your artifacts: ${server.url}?folder=user/` : '';
      process.stderr.write(`the demo's artifacts, teacher and rows: ${a.dir}/cpu (WASM) and ${a.dir}/gpu (WebGPU)\n`);
      process.stdout.write(`open ${server.url} (WASM) or ${server.url}?ep=webgpu${user}; Ctrl-C stops the server\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      await server.close();
    },
  );
}
