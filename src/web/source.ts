/**
 * Where a browser reads an artifacts folder from: a URL prefix (a served folder), the `File`s of a dropped
 * or picked folder, or a folder in the origin-private file system (OPFS). The trainer asks for files by
 * their name inside the folder and never learns which kind it reads.
 */
import { InputError } from '../errors.js';

export interface FileSource {
  /** Says where the files come from, for messages ('https://host/demo/', 'dropped folder my-run'). */
  readonly description: string;
  /** Bytes of `name` (a path inside the folder, '/'-separated); an InputError naming it when it is absent. */
  read(name: string): Promise<Uint8Array>;
  /** Whether the folder has `name`. */
  has(name: string): Promise<boolean>;
}

/** Text of a file of a source (UTF-8). */
export async function readText(source: FileSource, name: string): Promise<string> {
  return new TextDecoder().decode(await source.read(name));
}

/** A served folder: `base` is its URL (a trailing '/' is added). Absent files are HTTP 404s. */
export function urlSource(base: string, fetchFn: typeof fetch = fetch): FileSource {
  const root = base.endsWith('/') ? base : `${base}/`;
  const url = (name: string) => new URL(name, new URL(root, globalThis.location?.href)).href;
  return {
    description: root,
    async read(name) {
      let response: Response;
      try {
        response = await fetchFn(url(name));
      } catch (e) {
        throw new InputError(`${url(name)}: cannot fetch (${(e as Error).message}); is the server running?`);
      }
      if (!response.ok) throw new InputError(`${url(name)}: HTTP ${response.status}; put ${name} in the folder ${root} serves`);
      return new Uint8Array(await response.arrayBuffer());
    },
    async has(name) {
      try {
        const response = await fetchFn(url(name), { method: 'HEAD' });
        return response.ok;
      } catch {
        return false;
      }
    },
  };
}

/**
 * The files of a dropped or picked folder (`<input webkitdirectory>` or a drop's entries): their
 * `webkitRelativePath` starts with the folder's own name, which is taken off, so names are relative to the
 * folder as with the other sources. Files without a relative path (several loose files) keep their names.
 */
export function fileListSource(files: Iterable<File>, label = 'dropped folder'): FileSource {
  const byName = new Map<string, File>();
  for (const f of files) {
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
    byName.set(rel.includes('/') ? rel.slice(rel.indexOf('/') + 1) : rel, f);
  }
  return {
    description: label,
    async read(name) {
      const f = byName.get(name);
      if (!f) throw new InputError(`${label}: no file ${name}; drop the whole artifacts folder ('distill build' writes it)`);
      return new Uint8Array(await f.arrayBuffer());
    },
    async has(name) {
      return byName.has(name);
    },
  };
}

/** A folder of the origin-private file system (navigator.storage.getDirectory() or a folder inside it). */
export function opfsSource(dir: FileSystemDirectoryHandle, label = `OPFS folder ${dir.name || '/'}`): FileSource {
  const fileHandle = async (name: string): Promise<FileSystemFileHandle | null> => {
    const parts = name.split('/');
    let d = dir;
    try {
      for (const p of parts.slice(0, -1)) d = await d.getDirectoryHandle(p);
      return await d.getFileHandle(parts[parts.length - 1]!);
    } catch {
      return null;
    }
  };
  return {
    description: label,
    async read(name) {
      const h = await fileHandle(name);
      if (!h) throw new InputError(`${label}: no file ${name}; copy the artifacts folder into it first`);
      return new Uint8Array(await (await h.getFile()).arrayBuffer());
    },
    async has(name) {
      return (await fileHandle(name)) !== null;
    },
  };
}

/**
 * Copies `files` of `source` into the OPFS folder `name` (made if needed) and returns that folder as a source:
 * a page keeps a folder it was given (dropped or served) for the next visit, offline.
 */
export async function copyToOpfs(source: FileSource, files: readonly string[], name: string): Promise<FileSource> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.getDirectory) throw new InputError('this browser has no origin-private file system (navigator.storage.getDirectory)');
  const dir = await (await storage.getDirectory()).getDirectoryHandle(name, { create: true });
  for (const f of files) {
    const w = await (await dir.getFileHandle(f, { create: true })).createWritable();
    await w.write((await source.read(f)) as unknown as BufferSource);
    await w.close();
  }
  return opfsSource(dir, `OPFS folder ${name}/`);
}
