/**
 * Loading and saving ModelProto files, with or without external data (`model.onnx` + `model.onnx_data`, the
 * layout torch and Hugging Face use for anything large).
 *
 * Memory: the file is read once into a Buffer and raw_data fields decode as views into it (no copy); external
 * data files are likewise read once and sliced. Saving inline encodes one output buffer (the second copy);
 * saving with external data streams each tensor's bytes to the data file, so no second copy is made.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, ModelFormatError } from '../errors.js';
import { type GraphProto, type ModelProto, type TensorProto, toNumber } from './proto.js';
import { writeFileAtomic } from '../util/fs.js';
import { fsInputError } from '../util/fs-errors.js';
import { encodeModelChunks } from './encode.js';
import { decodeModel } from './model-codec.js';

export { decodeModel, encodeModel } from './model-codec.js';

/** Highest IR version the bundled onnxruntime-node (1.30) accepts. */
export const MAX_IR_VERSION = 13;

export interface LoadedModel {
  model: ModelProto;
  /** The file it came from. */
  path: string;
  /** External data files the model referenced (relative to the model's folder), in first-use order. */
  externalFiles: string[];
}

export interface LoadOptions {
  /** Resolve external data into the tensors (default true). With false, tensors keep their references. */
  loadExternalData?: boolean;
}

function readFileOrThrow(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new InputError(`${file}: ${what} does not exist`);
    if (err.code === 'EISDIR') throw new InputError(`${file}: is a directory, expected ${what}`);
    throw new InputError(`${file}: cannot read ${what} (${err.code ?? err.message})`);
  }
}

export function loadModel(file: string, options: LoadOptions = {}): LoadedModel {
  const bytes = readFileOrThrow(file, 'ONNX model');
  const model = decodeModel(bytes, file);
  const externalFiles = options.loadExternalData === false
    ? listExternalFiles(model)
    : resolveExternalData(model, path.dirname(path.resolve(file)), file);
  return { model, path: file, externalFiles };
}

/** Every tensor stored in the model: initializers of the graph and its subgraphs, attribute tensors, sparse parts. */
export function* allTensors(model: ModelProto): Generator<TensorProto> {
  const seen = new Set<GraphProto>();
  function* graph(g: GraphProto): Generator<TensorProto> {
    if (seen.has(g)) return;
    seen.add(g);
    yield* g.initializer;
    for (const s of g.sparseInitializer) {
      if (s.values) yield s.values;
      if (s.indices) yield s.indices;
    }
    for (const n of g.node) yield* attributeTensors(n.attribute);
  }
  function* attributeTensors(attrs: GraphProto['node'][number]['attribute']): Generator<TensorProto> {
    for (const a of attrs) {
      if (a.t) yield a.t;
      yield* a.tensors;
      if (a.g) yield* graph(a.g);
      for (const g of a.graphs) yield* graph(g);
    }
  }
  if (model.graph) yield* graph(model.graph);
  for (const f of model.functions) for (const n of f.node) yield* attributeTensors(n.attribute);
}

function externalInfo(t: TensorProto) {
  const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = kv.get('location');
  return { location, offset: Number(kv.get('offset') ?? 0), length: kv.has('length') ? Number(kv.get('length')) : undefined };
}

function listExternalFiles(model: ModelProto): string[] {
  const files: string[] = [];
  for (const t of allTensors(model)) {
    if (t.dataLocation !== 1) continue;
    const { location } = externalInfo(t);
    if (location && !files.includes(location)) files.push(location);
  }
  return files;
}

function resolveExternalData(model: ModelProto, dir: string, source: string): string[] {
  const files = new Map<string, Buffer>();
  for (const t of allTensors(model)) {
    if (t.dataLocation !== 1) continue;
    const { location, offset, length } = externalInfo(t);
    if (!location) throw new ModelFormatError(`${source}: tensor '${t.name}' is external but has no 'location'`);
    if (path.isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
      throw new ModelFormatError(`${source}: tensor '${t.name}' points outside the model folder ('${location}')`);
    }
    let data = files.get(location);
    if (!data) {
      data = readFileOrThrow(path.join(dir, location), `external data of ${path.basename(source)}`);
      files.set(location, data);
    }
    const end = length === undefined ? data.length : offset + length;
    if (!Number.isFinite(offset) || offset < 0 || end > data.length) {
      throw new ModelFormatError(
        `${source}: tensor '${t.name}' reads bytes ${offset}..${end} of '${location}', which has ${data.length}; the data file is truncated or belongs to another model`,
      );
    }
    t.rawData = data.subarray(offset, end);
    t.externalData = [];
    t.dataLocation = 0;
  }
  return [...files.keys()];
}

export interface SaveOptions {
  /**
   * Write initializers of at least `threshold` bytes to `location` (relative to the model file) instead of
   * inline. Needed past protobuf's 2 GB limit; torch and HF use it for anything large.
   */
  externalData?: { location?: string; threshold?: number } | boolean;
}

/** Saves a model atomically (temporary file + rename); the model object is not modified. */
export function saveModel(model: ModelProto, file: string, options: SaveOptions = {}): void {
  const ir = toNumber(model.irVersion);
  if (ir > MAX_IR_VERSION) {
    throw new InputError(`${file}: IR version ${ir} is newer than onnxruntime-node 1.30 reads (max ${MAX_IR_VERSION})`);
  }
  const ext = options.externalData;
  if (!ext) {
    writeFileAtomic(file, encodeModelChunks(model));
    return;
  }
  const settings = typeof ext === 'object' ? ext : {};
  const location = settings.location ?? `${path.basename(file)}_data`;
  const threshold = settings.threshold ?? 1024;
  const dataPath = path.join(path.dirname(file), location);
  const tmpData = `${dataPath}.tmp-${process.pid}`;
  const fd = fs.openSync(tmpData, 'w');
  let offset = 0;
  const replaced = new Map<TensorProto, TensorProto>();
  try {
    for (const t of allTensors(model)) {
      // Typed-field tensors stay inline (protobufjs gives an absent raw_data as a plain empty array).
      if (replaced.has(t) || !(t.rawData instanceof Uint8Array) || t.rawData.length < threshold) continue;
      // Align each tensor to 64 bytes so a reader may map the file and view the data without a copy.
      const aligned = Math.ceil(offset / 64) * 64;
      if (aligned > offset) fs.writeSync(fd, new Uint8Array(aligned - offset));
      fs.writeSync(fd, t.rawData);
      replaced.set(t, {
        ...t,
        rawData: null,
        dataLocation: 1,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: String(aligned) },
          { key: 'length', value: String(t.rawData.length) },
        ],
      });
      offset = aligned + t.rawData.length;
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmpData, { force: true });
    throw fsInputError(e, dataPath); // writeSync's errors (a full disk) carry no path
  }
  fs.closeSync(fd);
  if (replaced.size === 0) {
    // Nothing reached the threshold: the model is whole in one file, with no empty data file beside it (and
    // none left from an earlier save of it).
    fs.rmSync(tmpData, { force: true });
    if (settings.location === undefined) fs.rmSync(dataPath, { force: true });
    writeFileAtomic(file, encodeModelChunks(model));
    return;
  }
  const chunks = encodeModelChunks(withTensorsReplaced(model, replaced));
  fs.renameSync(tmpData, dataPath);
  writeFileAtomic(file, chunks);
}

/** A structural copy of `model` in which the given tensors are swapped; everything else is shared. */
function withTensorsReplaced(model: ModelProto, swap: Map<TensorProto, TensorProto>): ModelProto {
  const t = (x: TensorProto | null | undefined) => (x ? swap.get(x) ?? x : x);
  const graph = (g: GraphProto): GraphProto => ({
    ...g,
    initializer: g.initializer.map((x) => t(x)!),
    sparseInitializer: g.sparseInitializer.map((s) => ({ ...s, values: t(s.values), indices: t(s.indices) })),
    node: g.node.map((n) => ({
      ...n,
      attribute: n.attribute.map((a) => ({
        ...a,
        t: t(a.t),
        tensors: a.tensors.map((x) => t(x)!),
        g: a.g ? graph(a.g) : a.g,
        graphs: a.graphs.map(graph),
      })),
    })),
  });
  return { ...model, graph: model.graph ? graph(model.graph) : model.graph };
}

/** A model's graph inputs (initializers listed as inputs by old exporters excluded). */
export function graphInputNames(model: ModelProto): string[] {
  const { graph } = model;
  const inits = new Set((graph?.initializer ?? []).map((t) => t.name));
  return (graph?.input ?? []).map((i) => i.name ?? '').filter((n) => n && !inits.has(n));
}

/**
 * A model path as users give it: an .onnx file, or a model folder (save_pretrained + export, a trained
 * output folder, optimum's layout), which stands for its model.onnx or onnx/model.onnx.
 */
export function resolveModelPath(p: string): string {
  if (!fs.statSync(p, { throwIfNoEntry: false })?.isDirectory()) return p;
  const inside = [path.join(p, 'model.onnx'), path.join(p, 'onnx', 'model.onnx')].find((f) => fs.existsSync(f));
  if (!inside) throw new InputError(`${p}: a folder without model.onnx or onnx/model.onnx; give the .onnx file`);
  return inside;
}
