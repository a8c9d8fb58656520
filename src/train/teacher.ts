/**
 * Teacher logits for training batches: the teacher's own ONNX session on the student's execution provider,
 * optionally cached on disk (`--teacher-cache DIR`) after the first full epoch so later epochs, and later
 * runs on the same teacher, data and tokenization, skip the teacher entirely.
 *
 * The cache lives in `DIR/<key>/` where the key hashes the teacher's bytes and the token ids of every
 * example. A changed teacher, data or tokenization gives a new key, so a stale cache is never read; an
 * entry whose shape disagrees with the batch is an error, not a silent use.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import type { Batch } from '../runtime/batch.js';
import type { CollateOptions } from '../data/batches.js';
import type { TrainingData } from './training-data.js';
import { modelFromProto, modelToProto } from '../ir/convert.js';
import { narrowToReadRows } from '../ir/narrow-rows.js';
import { encodeModel, loadModel } from '../onnx/model-io.js';
import { type CreateOptions, createSession } from '../runtime/session.js';
import { writeFileAtomic } from '../util/fs.js';
import { eliminateDeadCode } from '../ir/passes.js';
import { reorderClasses } from './teacher-match.js';
import { checkDynamicTokenAxes } from '../onnx/fixed-axes.js';

/** What a teacher session may be opened with (its external-data folder is the teacher's own). */
export type TeacherSessionOptions = Omit<CreateOptions, 'externalDataFolder'>;

// 2: index.json holds logits.bin's sha256 (format 1 caches are rebuilt).
const CACHE_FORMAT = 2;

export interface CacheKeyParts {
  teacher: string;
  /** sha256 over every example's line number and token ids (what the teacher sees; labels excluded). */
  inputsDigest: string;
  /** The teacher's logits are cached in the student's class order: a different order is a different cache. */
  classOrder?: readonly number[];
}

/** The teacher files (model and every external data file it names, whatever its name) whose bytes the cache key covers. */
function teacherFiles(teacher: string): string[] {
  const external = loadModel(teacher, { loadExternalData: false }).externalFiles;
  return [teacher, ...external.map((f) => path.join(path.dirname(teacher), f))];
}

/**
 * The cache key: the teacher's bytes and the token ids it is fed. Data and tokenization (tokenizer file,
 * max length, fields) matter only through the ids, so a run that changes only labels (e.g. hiding most of
 * them for a transfer set) shares the cache, and any change to what the teacher sees gets a new key.
 */
export function cacheKey(parts: CacheKeyParts): string {
  const h = createHash('sha256');
  h.update(`onnx-distill teacher cache ${CACHE_FORMAT}\n`);
  for (const f of teacherFiles(parts.teacher)) {
    h.update(`${path.basename(f)}\n`);
    h.update(fs.readFileSync(f));
  }
  h.update(parts.inputsDigest);
  if (parts.classOrder) h.update(`\nclass order ${parts.classOrder.join(',')}`);
  return h.digest('hex').slice(0, 24);
}

/** Accumulates the digest of the examples' token ids, in file order. */
export class InputsDigest {
  private readonly h = createHash('sha256');
  add(line: number, ids: readonly number[], typeIds?: readonly number[]): void {
    this.h.update(`${line}:${ids.join(',')}${typeIds ? `|${typeIds.join(',')}` : ''}\n`);
  }
  digest(): string {
    return this.h.digest('hex');
  }
}

interface CacheIndex {
  format: number;
  key: string;
  classes: number;
  /** sha256 of logits.bin: a damaged file is refused, not trained on. */
  sha256: string;
  /** line -> [offset in floats, rows] */
  entries: Record<string, [number, number]>;
}

/**
 * The teacher as its session runs it: a copy of its graph that computes its first output (the logits) alone
 * and, where the logits read only some rows (a classifier's [CLS] position), only those rows after the
 * attention (ir/narrow-rows.ts; the attention stays whole, so an example's logits do not depend on how its
 * batch is padded): the same logits for about three quarters of a layer less work. The weights are not
 * copied: external data stays in its files (`externalDataFolder` tells ORT where they are), inline weights
 * are encoded once.
 */
export function teacherModel(file: string): { bytes: Uint8Array; externalDataFolder?: string } {
  const loaded = loadModel(file, { loadExternalData: false });
  checkDynamicTokenAxes(loaded.model, file);
  const m = modelFromProto(loaded.model);
  const opset = m.opset('');
  m.graph.setOutputs(m.graph.outputs.slice(0, 1));
  eliminateDeadCode(m.graph);
  if (opset !== undefined) narrowToReadRows(m.graph, { opset });
  const bytes = encodeModel(modelToProto(m));
  return loaded.externalFiles.length ? { bytes, externalDataFolder: path.dirname(path.resolve(file)) } : { bytes };
}

export async function createTeacherSession(file: string, options: TeacherSessionOptions): Promise<ort.InferenceSession> {
  const { bytes, externalDataFolder } = teacherModel(file);
  return createSession(bytes, { ...options, externalDataFolder });
}

/** Per-example logits: rows x classes (rows = 1 for sequence classification). */
type ExampleLogits = Float32Array;

export class TeacherLogits {
  private memory = new Map<number, ExampleLogits>();
  private classes = 0;
  /** True when logits were loaded from the cache. */
  cacheHit = false;

  private session: ort.InferenceSession | null = null;
  /** Examples added since the cache was loaded (or all of them without one). */
  private added = 0;

  private constructor(
    private readonly teacher: string,
    private readonly options: TeacherSessionOptions,
    private readonly perToken: boolean,
    private readonly cacheDir: string | undefined,
    /** For each student class, the teacher's column (teacher-match.ts); undefined when they agree. */
    private readonly classOrder: readonly number[] | undefined,
  ) {}

  /** The teacher session is opened lazily: a complete cache never needs it. */
  static open(teacher: string, perToken: boolean, options: TeacherSessionOptions, cache?: { dir: string; key: string }, classOrder?: readonly number[]): TeacherLogits {
    const t = new TeacherLogits(teacher, options, perToken, cache ? path.join(cache.dir, cache.key) : undefined, classOrder);
    t.cacheHit = t.cacheDir !== undefined && t.load();
    return t;
  }

  /** Opens the teacher session now rather than at the first batch the cache lacks; returns it. */
  async prepare(): Promise<ort.InferenceSession> {
    this.session ??= await createTeacherSession(this.teacher, this.options);
    return this.session;
  }

  /** Teacher logits for a collated batch whose rows came from `lines` of the data file. */
  async forBatch(batch: Batch, lines: readonly number[]): Promise<ort.Tensor> {
    const ids = batch.input_ids!;
    const [B, S] = ids.dims as [number, number];
    const cached = lines.every((l) => this.memory.has(l));
    if (!cached) return this.run(batch, lines);
    const C = this.classes;
    if (!this.perToken) {
      const out = new Float32Array(B * C);
      lines.forEach((l, r) => out.set(this.expect(l, C), r * C));
      return new ort.Tensor('float32', out, [B, C]);
    }
    const out = new Float32Array(B * S * C);
    lines.forEach((l, r) => {
      const row = this.memory.get(l)!;
      if (row.length > S * C || row.length % C !== 0) throw new InputError(`teacher cache ${this.cacheDir}: entry for line ${l} does not fit the batch; delete the cache`);
      out.set(row, r * S * C);
    });
    return new ort.Tensor('float32', out, [B, S, C]);
  }

  /** Runs the teacher on a batch whose rows came from `lines`, and keeps each row's logits. */
  private async run(batch: Batch, lines: readonly number[]): Promise<ort.Tensor> {
    const S = batch.input_ids!.dims[1] as number;
    const session = await this.prepare();
    this.added += lines.length;
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      if (!batch[name]) throw new InputError(`the teacher needs input '${name}', which the data does not provide`);
      feeds[name] = batch[name]!;
    }
    const raw = (await session.run(feeds))[session.outputNames[0]!] as ort.Tensor;
    const out = this.classOrder ? new ort.Tensor('float32', reorderClasses(raw.data as Float32Array, this.classOrder), raw.dims) : raw;
    const data = out.data as Float32Array;
    const C = out.dims[out.dims.length - 1] as number;
    this.classes = C;
    const mask = batch.attention_mask?.data as BigInt64Array | undefined;
    lines.forEach((line, r) => {
      if (!this.perToken) this.memory.set(line, data.slice(r * C, (r + 1) * C));
      else {
        let len = S;
        if (mask) while (len > 0 && mask[r * S + len - 1] === 0n) len--;
        this.memory.set(line, data.slice(r * S * C, (r * S + len) * C));
      }
    });
    return out;
  }

  /**
   * The logits of every row of `data` before training, batch by batch in file order: the teacher's own
   * tokenization of the training rows (a sequence classifier with another tokenizer than the student's),
   * whose batches are not the student's. forBatch then answers from memory; the cache is written at once.
   */
  async precompute(data: TrainingData, collate: CollateOptions, batchSize: number): Promise<void> {
    if (this.cacheHit) return;
    const plan = { batchSize, shuffle: false, seed: 0 };
    for await (const pb of data.batches(plan, { ...collate, withLabels: false }, { epoch: 0, batch: 0 }, 1)) await this.run(pb.batch, pb.lines);
    this.save();
  }

  private expect(line: number, C: number): Float32Array {
    const row = this.memory.get(line)!;
    if (row.length !== C) throw new InputError(`teacher cache ${this.cacheDir}: entry for line ${line} has ${row.length} values, expected ${C}; delete the cache`);
    return row;
  }

  /** Writes the cache once every example has been seen (after the first full epoch). */
  save(): void {
    if (!this.cacheDir || this.added === 0) return;
    const lines = [...this.memory.keys()].sort((a, b) => a - b);
    const total = lines.reduce((n, l) => n + this.memory.get(l)!.length, 0);
    const blob = new Float32Array(total);
    const entries: CacheIndex['entries'] = {};
    let off = 0;
    for (const l of lines) {
      const row = this.memory.get(l)!;
      blob.set(row, off);
      entries[l] = [off, row.length / this.classes];
      off += row.length;
    }
    fs.mkdirSync(this.cacheDir, { recursive: true });
    const bytes = new Uint8Array(blob.buffer);
    writeFileAtomic(path.join(this.cacheDir, 'logits.bin'), bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const index: CacheIndex = { format: CACHE_FORMAT, key: path.basename(this.cacheDir), classes: this.classes, sha256, entries };
    writeFileAtomic(path.join(this.cacheDir, 'index.json'), JSON.stringify(index));
    this.added = 0;
  }

  private load(): boolean {
    const indexFile = path.join(this.cacheDir!, 'index.json');
    if (!fs.existsSync(indexFile)) return false;
    const damaged = (why: string) => new InputError(`teacher cache ${this.cacheDir} is damaged (${why}); delete it to rebuild`);
    let index: CacheIndex;
    try {
      index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as CacheIndex;
    } catch (e) {
      throw damaged(`index.json: ${(e as Error).message}`);
    }
    if (index.format !== CACHE_FORMAT || index.key !== path.basename(this.cacheDir!)) return false;
    const logitsFile = path.join(this.cacheDir!, 'logits.bin');
    if (!fs.existsSync(logitsFile)) throw damaged('no logits.bin');
    const bytes = fs.readFileSync(logitsFile);
    if (createHash('sha256').update(bytes).digest('hex') !== index.sha256) throw damaged("logits.bin does not match index.json's checksum");
    const blob = new Float32Array(new Uint8Array(bytes).buffer);
    this.classes = index.classes;
    for (const [line, [off, rows]] of Object.entries(index.entries)) {
      if (off + rows * index.classes > blob.length) throw new InputError(`teacher cache ${this.cacheDir} is truncated; delete it to rebuild`);
      this.memory.set(Number(line), blob.subarray(off, off + rows * index.classes));
    }
    return true;
  }

  async release(): Promise<void> {
    await this.session?.release();
  }
}
