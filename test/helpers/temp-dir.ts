/** A temporary folder for one test file, removed when the file's tests end. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';

export interface TempDir {
  dir: string;
  /** Writes `data` to `name` in the folder and returns its path. */
  write(name: string, data: string | Uint8Array): string;
}

export function tempDir(prefix: string): TempDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    write(name, data) {
      const f = path.join(dir, name);
      fs.writeFileSync(f, data);
      return f;
    },
  };
}

/** Every item of an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
