/**
 * Node attributes. Nodes keep AttributeProto objects as loaded (so anything we do not touch round-trips
 * exactly); these helpers read them with defaults and make new ones from plain JS values.
 */
import { GraphError } from '../errors.js';
import { AttributeType, type AttributeProto, type GraphProto, type TensorProto, toNumber } from '../onnx/proto.js';

/** Marks a number as an ONNX float attribute (plain numbers become INT attributes). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export class FloatsAttr {
  constructor(readonly value: readonly number[]) {}
}
export const attr = {
  float: (v: number) => new FloatAttr(v),
  floats: (v: readonly number[]) => new FloatsAttr(v),
};

/** Plain JS forms accepted by the builder: integers -> INT, number[] -> INTS, string -> STRING, ... */
export type AttrValue =
  | number | bigint | string | readonly number[] | readonly string[] | FloatAttr | FloatsAttr | TensorProto | GraphProto
  | AttributeProto;

const enc = new TextEncoder();
const dec = new TextDecoder();

function blank(name: string, type: AttributeType): AttributeProto {
  return { name, type, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };
}

function isTensorProto(v: object): v is TensorProto {
  return 'dataType' in v && 'dims' in v;
}

export function makeAttribute(name: string, v: AttrValue): AttributeProto {
  if (v instanceof FloatAttr) return { ...blank(name, AttributeType.FLOAT), f: v.value };
  if (v instanceof FloatsAttr) return { ...blank(name, AttributeType.FLOATS), floats: [...v.value] };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new GraphError(`attribute '${name}': ${v} is not an integer; use attr.float()`);
    return { ...blank(name, AttributeType.INT), i: v };
  }
  if (typeof v === 'bigint') return { ...blank(name, AttributeType.INT), i: Number(v) };
  if (typeof v === 'string') return { ...blank(name, AttributeType.STRING), s: enc.encode(v) };
  if (Array.isArray(v)) {
    // An empty list is taken as INTS (axes, perm, pads...), the common case; empty STRINGS is rare.
    if (v.length > 0 && v.every((x) => typeof x === 'string')) {
      return { ...blank(name, AttributeType.STRINGS), strings: (v as string[]).map((s) => enc.encode(s)) };
    }
    return { ...blank(name, AttributeType.INTS), ints: [...(v as number[])] };
  }
  const o = v as object;
  if ('type' in o && 'name' in o && 'ints' in o) return { ...(o as AttributeProto), name };
  if (isTensorProto(o)) return { ...blank(name, AttributeType.TENSOR), t: o };
  return { ...blank(name, AttributeType.GRAPH), g: o as GraphProto };
}

/** Typed reads of a node's attributes, with the defaults the ONNX operator spec gives. */
export class Attributes {
  constructor(private readonly list: AttributeProto[], private readonly where: string) {}

  get(name: string): AttributeProto | undefined {
    return this.list.find((a) => a.name === name);
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  int(name: string, fallback?: number): number {
    const a = this.get(name);
    if (!a) return this.missing(name, fallback);
    return toNumber(a.i);
  }
  float(name: string, fallback?: number): number {
    const a = this.get(name);
    if (!a) return this.missing(name, fallback);
    return a.f ?? 0;
  }
  string(name: string, fallback?: string): string {
    const a = this.get(name);
    if (!a) return this.missing(name, fallback);
    return dec.decode(a.s ?? new Uint8Array());
  }
  ints(name: string, fallback?: number[]): number[] {
    const a = this.get(name);
    if (!a) return this.missing(name, fallback);
    return a.ints.map(toNumber);
  }
  floats(name: string, fallback?: number[]): number[] {
    const a = this.get(name);
    if (!a) return this.missing(name, fallback);
    return [...a.floats];
  }
  tensor(name: string): TensorProto | undefined {
    return this.get(name)?.t ?? undefined;
  }
  graph(name: string): GraphProto | undefined {
    return this.get(name)?.g ?? undefined;
  }
  set(name: string, v: AttrValue): void {
    const a = makeAttribute(name, v);
    const i = this.list.findIndex((x) => x.name === name);
    if (i >= 0) this.list[i] = a;
    else this.list.push(a);
  }
  delete(name: string): void {
    const i = this.list.findIndex((x) => x.name === name);
    if (i >= 0) this.list.splice(i, 1);
  }
  get protos(): readonly AttributeProto[] {
    return this.list;
  }

  private missing<T>(name: string, fallback: T | undefined): T {
    if (fallback === undefined) throw new GraphError(`${this.where}: required attribute '${name}' is missing`);
    return fallback;
  }
}
