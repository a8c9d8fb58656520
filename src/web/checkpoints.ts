/**
 * Checkpoints of a browser run, kept by the origin: in the origin-private file system (OPFS, where the
 * browser has it) or in IndexedDB. A checkpoint is one safetensors file (parameters and optimizer state,
 * shaped as the step takes them) whose metadata holds the run's position as JSON: a page that reloads, or
 * a tab that was closed, resumes from it.
 */
import { InputError } from '../errors.js';

export interface CheckpointStore {
  /** 'opfs' or 'indexeddb', for the page. */
  readonly kind: string;
  save(name: string, bytes: Uint8Array): Promise<void>;
  /** The bytes saved under `name`, or null. */
  load(name: string): Promise<Uint8Array | null>;
  remove(name: string): Promise<void>;
}

/** OPFS: one file per checkpoint in the folder `folder` of the origin's private root. */
export async function opfsStore(folder = 'onnx-distill-checkpoints'): Promise<CheckpointStore> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.getDirectory) throw new InputError('checkpoints: this browser has no origin-private file system (navigator.storage.getDirectory); use the IndexedDB store');
  const dir = await (await storage.getDirectory()).getDirectoryHandle(folder, { create: true });
  const fileName = (name: string) => `${name}.safetensors`;
  return {
    kind: 'opfs',
    async save(name, bytes) {
      // Written under a temporary name and then moved, so that a tab closed mid-write leaves the old checkpoint.
      const tmp = await dir.getFileHandle(`${fileName(name)}.partial`, { create: true });
      const w = await tmp.createWritable();
      await w.write(bytes as unknown as BufferSource);
      await w.close();
      const movable = tmp as FileSystemFileHandle & { move?(name: string): Promise<void> };
      if (movable.move) {
        await movable.move(fileName(name));
      } else {
        const f = await dir.getFileHandle(fileName(name), { create: true });
        const w2 = await f.createWritable();
        await w2.write(bytes as unknown as BufferSource);
        await w2.close();
        await dir.removeEntry(`${fileName(name)}.partial`);
      }
    },
    async load(name) {
      try {
        const h = await dir.getFileHandle(fileName(name));
        return new Uint8Array(await (await h.getFile()).arrayBuffer());
      } catch {
        return null;
      }
    },
    async remove(name) {
      await dir.removeEntry(fileName(name)).catch(() => undefined);
    },
  };
}

const request = <T>(r: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

/** IndexedDB: one record per checkpoint (the bytes as a Blob) in the object store 'checkpoints' of `database`. */
export async function indexedDbStore(database = 'onnx-distill'): Promise<CheckpointStore> {
  const idb = globalThis.indexedDB;
  if (!idb) throw new InputError('checkpoints: this browser has no IndexedDB; use the OPFS store');
  const open = idb.open(database, 1);
  open.onupgradeneeded = () => open.result.createObjectStore('checkpoints');
  const db = await request(open);
  const store = (mode: IDBTransactionMode) => db.transaction('checkpoints', mode).objectStore('checkpoints');
  return {
    kind: 'indexeddb',
    async save(name, bytes) {
      await request(store('readwrite').put(new Blob([bytes as unknown as BlobPart]), name));
    },
    async load(name) {
      const blob = (await request(store('readonly').get(name))) as Blob | undefined;
      return blob ? new Uint8Array(await blob.arrayBuffer()) : null;
    },
    async remove(name) {
      await request(store('readwrite').delete(name));
    },
  };
}

/** OPFS where the browser has it, else IndexedDB. */
export async function defaultStore(): Promise<CheckpointStore> {
  try {
    return await opfsStore();
  } catch {
    return indexedDbStore();
  }
}
