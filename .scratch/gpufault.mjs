import { startWebDemo } from '../dist/src/demo/web-demo.js';
import { launchChromium, runPage } from '../dist/test/helpers/browser.js';
import * as fs from 'node:fs';
const dir = fs.mkdtempSync('/tmp/gpuf-');
const server = await startWebDemo({ dir: dir + '/demo', port: 0 });
const rows = fs.readFileSync(dir + '/demo/data/train.jsonl', 'utf8').split('\n').slice(0, 160).join('\n') + '\n';
for (const folder of Object.values(server.folders.folders)) fs.writeFileSync(folder + '/train.jsonl', rows);
const browser = await launchChromium(true);
await browser.context.addInitScript(() => {
  const q = new URLSearchParams(location.search);
  const fault = q.get('fault'); const after = Number(q.get('after') ?? 0);
  globalThis.__submits = 0;
  const orig = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...a) {
    const d = await orig.apply(this, a);
    const submit = d.queue.submit.bind(d.queue);
    d.queue.submit = (cmds) => {
      const n = ++globalThis.__submits;
      if (fault && !globalThis.__injected && (globalThis.__distill?.losses?.length ?? 0) >= after) { globalThis.__injected = n; if (fault === 'lost') d.destroy(); else d.createBuffer({ size: 4, usage: 0 }); }
      return submit(cmds);
    };
    return d;
  };
});
const t0 = Date.now();
const { run, page } = await runPage(browser.context, `${server.url}?ep=webgpu&maxSteps=${process.argv[3] ?? 2}&eval=0&autorun=1${process.argv[2] ?? ''}`, 300000);
console.log(run.status, run.error, run.losses, await page.evaluate(() => [globalThis.__submits, globalThis.__injected]), (Date.now() - t0) / 1000, 's');
await browser.close(); await server.close();
