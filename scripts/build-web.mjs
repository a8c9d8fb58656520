// Bundles the demo page (src/web/page/main.ts and the onnx-distill/web code it imports) with esbuild into
// dist/web/, beside a copy of index.html. onnxruntime-web is not bundled: the page loads the build it needs
// (WASM or WebGPU) at run time from ort/, which `distill web` serves from node_modules.
// A Node built-in reached from the page fails the build: the browser entry point must not use Node APIs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');

const noNode = {
  name: 'no-node-builtins',
  setup(build) {
    build.onResolve({ filter: /^(node:|fs$|path$|os$|url$|module$|stream$|child_process$|crypto$)/ }, (args) => {
      const from = path.relative(root, args.importer);
      // Dependencies (protobufjs) probe for fs inside a try, for Node only: they get the empty module.
      if (from.startsWith('node_modules')) return { path: args.path, namespace: 'empty' };
      return { errors: [{ text: `${from} imports the Node built-in '${args.path}'; code the browser entry point reaches must not use Node APIs` }] };
    });
    build.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

fs.mkdirSync(out, { recursive: true });
const result = await esbuild.build({
  entryPoints: [path.join(root, 'src', 'web', 'page', 'main.ts')],
  outfile: path.join(out, 'page.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  metafile: true,
  plugins: [noNode],
  logLevel: 'error',
});
fs.copyFileSync(path.join(root, 'src', 'web', 'page', 'index.html'), path.join(out, 'index.html'));
const bytes = fs.statSync(path.join(out, 'page.js')).size;
if (process.argv.includes('--verbose')) console.log(`dist/web/page.js: ${(bytes / 1024).toFixed(0)} KB, ${Object.keys(result.metafile.inputs).length} modules`);
