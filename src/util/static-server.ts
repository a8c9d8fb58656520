/**
 * A static file server for the browser page: routes map URL prefixes to folders. It sends the COOP/COEP
 * headers that make the page cross-origin isolated (onnxruntime-web's WASM threads need SharedArrayBuffer),
 * and never serves a path outside its folders.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.map': 'application/json',
  '.wasm': 'application/wasm', '.json': 'application/json', '.jsonl': 'application/jsonl', '.onnx': 'application/octet-stream',
  '.safetensors': 'application/octet-stream', '.png': 'image/png', '.svg': 'image/svg+xml',
};

/** URL prefix ('/', '/ort/') -> folder. The longest matching prefix wins. */
export type Routes = Record<string, string>;

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

function resolve(routes: Routes, urlPath: string): string | null {
  const prefix = Object.keys(routes).filter((p) => urlPath.startsWith(p)).sort((a, b) => b.length - a.length)[0];
  if (prefix === undefined) return null;
  const root = path.resolve(routes[prefix]!);
  let rel = decodeURIComponent(urlPath.slice(prefix.length));
  if (rel === '' || rel.endsWith('/')) rel += 'index.html';
  const file = path.resolve(root, rel);
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

export function serveStatic(routes: Routes, port: number, host = '127.0.0.1'): Promise<StaticServer> {
  const server = http.createServer((req, res) => {
    const urlPath = new URL(req.url ?? '/', 'http://x').pathname;
    const file = resolve(routes, urlPath);
    const stat = file ? fs.statSync(file, { throwIfNoEntry: false }) : undefined;
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-cache' };
    if (!file || !stat?.isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${urlPath}\n`);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': stat.size });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const a = server.address() as AddressInfo;
      ok({ url: `http://${host}:${a.port}/`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}
