/** `distill web`: the server the page runs under (the page itself: web-page.test.ts). */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/fixtures.js';

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

describe('distill web', () => {
  it('serves the page, onnxruntime-web and the demo folders, cross-origin isolated, and nothing outside them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-cli-web-'));
    const child = spawn(process.execPath, [CLI, 'web', '--port', '0', '--dir', path.join(dir, 'demo')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`distill web exited with ${code} before serving`)));
      });
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="module" src=".\/page.js">/);
      // SharedArrayBuffer, which WASM threads need, only exists in a cross-origin-isolated page.
      assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
      assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
      const ort = await fetch(`${url}ort/ort-wasm-simd-threaded.wasm`);
      assert.equal(ort.headers.get('content-type'), 'application/wasm');
      assert.ok(Number(ort.headers.get('content-length')) > 1e6);
      for (const target of ['cpu', 'gpu']) {
        const manifest = (await (await fetch(`${url}demo/${target}/manifest.json`)).json()) as { target?: string };
        assert.equal(manifest.target ?? 'cpu', target);
        for (const f of ['teacher.onnx', 'tokenizer.json', 'train.jsonl', 'eval.jsonl']) assert.equal((await fetch(`${url}demo/${target}/${f}`, { method: 'HEAD' })).status, 200, f);
      }
      assert.equal((await fetch(`${url}demo/%2e%2e/%2e%2e/package.json`)).status, 404);
    } finally {
      child.kill('SIGINT');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an artifacts folder without a manifest in one line', () => {
    const r = spawnSync(process.execPath, [CLI, 'web', '--port', '0', '--artifacts', os.tmpdir()], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^distill: .*: no manifest\.json; pass a folder 'distill build' wrote .*\n$/);
  });
});
