// The terminal reporter of `npm test`: the failures in full, the slowest files, and one closing line
// ("tests: N passed, N failed, N skipped"), instead of node's 5,000 lines of TAP. For TAP, run node's own:
// `node --test --test-reporter=tap dist/test/*.test.js`.
import * as path from 'node:path';

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

export default async function* reporter(source) {
  const started = Date.now();
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = [];
  const fileTime = new Map();
  for await (const event of source) {
    const data = event.data ?? {};
    const details = data.details ?? {};
    if (event.type === 'test:pass' || event.type === 'test:fail') {
      if (data.nesting === 0 && data.file) fileTime.set(data.file, (fileTime.get(data.file) ?? 0) + (details.duration_ms ?? 0));
      // Suites (describe blocks) report too; only tests count.
      if (details.type === 'suite') {
        if (event.type === 'test:fail' && details.error?.failureType !== 'subtestsFailed') failures.push({ data, details });
        continue;
      }
      if (data.skip || data.todo) skipped++;
      else if (event.type === 'test:pass') passed++;
      else {
        failed++;
        failures.push({ data, details });
      }
      if ((passed + failed) % 100 === 0) yield '.';
    }
  }
  yield '\n';
  for (const { data, details } of failures) {
    const where = data.file ? path.relative(process.cwd(), data.file) : '';
    const error = details.error;
    const cause = error?.cause ?? error;
    const message = cause?.message ?? String(cause ?? 'failed');
    yield `\nFAIL ${data.name}${where ? `  (${where}${data.line ? `:${data.line}` : ''})` : ''}\n`;
    yield `${message.split('\n').map((l) => `  ${l}`).join('\n')}\n`;
    if (cause?.stack) {
      const frames = String(cause.stack).split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 3);
      if (frames.length) yield `${frames.join('\n')}\n`;
    }
  }
  const slowest = [...fileTime].sort((a, b) => b[1] - a[1]).slice(0, 5);
  if (slowest.length) {
    yield `\nslowest files: ${slowest.map(([f, ms]) => `${path.basename(f)} ${seconds(ms)}`).join(', ')}\n`;
  }
  yield `tests: ${passed} passed, ${failed} failed, ${skipped} skipped (${seconds(Date.now() - started)})\n`;
}
