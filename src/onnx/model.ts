/**
 * An ONNX model's structure read in one streaming pass over the wire format (the reader of `src/inspect`), with the
 * bytes of tensors left in the file: every tensor keeps where its data lies (a range of the model file, or of an
 * external data file), so a rewrite copies or converts them while writing and never holds them. Everything this
 * module does not interpret is kept as the exact bytes (or byte range) of its field and written back unchanged.
 * Field numbers are those of onnx/onnx `onnx/onnx.proto`.
 */
import path from 'node:path';
import { InspectError } from '../inspect/index.js';
import { type FieldHeader, WIRE, WireReader } from '../inspect/protowire.js';
import { OnnxError } from './errors.js';

/** TensorProto.DataType values used here. */
export const ELEM = { FLOAT: 1, INT64: 7, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16 } as const;

/** A field of the source copied verbatim (tag included): its bytes when small, else its range in the model file. */
export type RawField = { bytes: Uint8Array } | { at: number; end: number };

export interface TensorData {
  /** FP32 elements as little-endian bytes in `file` (raw_data, or packed float_data: the same layout). */
  file: string;
  offset: number;
  length: number;
}

export interface Tensor {
  name: string;
  dataType: number;
  dims: bigint[];
  /** Where FP32 data lies, when it is raw_data, packed float_data or external; undefined for other layouts. */
  data?: TensorData;
  /** The data is external (data_location = EXTERNAL): `data` is in another file. */
  external: boolean;
  /** Unpacked float_data (legal, rare): the values themselves. */
  floats?: number[];
  /** Every field but the data, name, data_type and external fields, verbatim. */
  rest: RawField[];
  /** Whole-field copy of the tensor in the source (for tensors written unchanged and inline). */
  whole: RawField;
  /** External data fields other than location/offset/length (checksum...), verbatim key/values. */
  externalOther: [string, string][];
}

export interface Attribute {
  name: string;
  /** AttributeProto.type. */
  type: number;
  /** `i`, for Cast's `to`. */
  i?: bigint;
  t?: Tensor;
  g?: Graph;
  graphs?: Graph[];
  /** Fields other than name/type/i/t/g/graphs, verbatim. `whole` is the attribute as it was. */
  rest: RawField[];
  whole: RawField;
}

export interface Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
  /** doc_string, overload, metadata_props, verbatim. */
  rest: RawField[];
}

export interface ValueInfo {
  name: string;
  /** Tensor element type; 0 when not a tensor or not stated. */
  elemType: number;
  /** The ValueInfoProto's bytes (small: names and shapes). */
  bytes: Uint8Array;
}

export interface Graph {
  nodes: Node[];
  initializers: Tensor[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  /** name, doc_string, sparse initializers, quantization annotations, metadata: verbatim, in order. */
  rest: RawField[];
}

export interface Model {
  file: string;
  size: number;
  irVersion: bigint;
  /** domain → version. */
  opsets: Map<string, bigint>;
  graph: Graph;
  /** Model fields other than ir_version, opset_import and graph, verbatim in order. */
  rest: RawField[];
}

const SMALL = 64 * 1024;
const MAX_SMALL_MESSAGE = 64 << 20;
const MAX_NAME = 1 << 20;

class Parser {
  constructor(
    readonly r: WireReader,
    readonly file: string,
  ) {}

  async raw(h: FieldHeader, end: number): Promise<RawField> {
    await this.r.skip(h, end);
    const fieldEnd = this.r.position;
    if (fieldEnd - h.at <= SMALL) return { bytes: await this.r.slice(h.at, fieldEnd, SMALL) };
    return { at: h.at, end: fieldEnd };
  }

  async model(): Promise<Model> {
    const r = this.r;
    const end = r.size;
    const model: Partial<Model> & { rest: RawField[]; opsets: Map<string, bigint> } = {
      file: this.file,
      size: r.size,
      irVersion: 0n,
      opsets: new Map(),
      rest: [],
    };
    for (let h = await r.next(end); h; h = await r.next(end)) {
      if (h.field === 1 && h.wireType === WIRE.VARINT) model.irVersion = await r.int64(end);
      else if (h.field === 7 && h.wireType === WIRE.LEN) model.graph = await this.graph(await r.lengthEnd(end));
      else if (h.field === 8 && h.wireType === WIRE.LEN) {
        const opEnd = await r.lengthEnd(end);
        let domain = '';
        let version = 0n;
        for (let o = await r.next(opEnd); o; o = await r.next(opEnd)) {
          if (o.field === 1 && o.wireType === WIRE.LEN) domain = await r.string(opEnd, MAX_NAME);
          else if (o.field === 2 && o.wireType === WIRE.VARINT) version = await r.int64(opEnd);
          else await r.skip(o, opEnd);
        }
        model.opsets.set(domain, version);
      } else model.rest.push(await this.raw(h, end));
    }
    if (!model.graph || !model.irVersion) {
      throw new InspectError('MSB_INSPECT_CORRUPT', `${this.file}: not an ONNX model (no graph or ir_version)`, {
        path: this.file,
      });
    }
    return model as Model;
  }

  async graph(end: number): Promise<Graph> {
    const r = this.r;
    const g: Graph = { nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [], rest: [] };
    for (let h = await r.next(end); h; h = await r.next(end)) {
      if (h.wireType !== WIRE.LEN) {
        g.rest.push(await this.raw(h, end));
        continue;
      }
      switch (h.field) {
        case 1:
          g.nodes.push(await this.node(h, await r.lengthEnd(end)));
          break;
        case 5:
          g.initializers.push(await this.tensor(h, await r.lengthEnd(end)));
          break;
        case 11:
        case 12:
        case 13: {
          const vi = await this.valueInfo(await r.bytes(end, MAX_SMALL_MESSAGE));
          (h.field === 11 ? g.inputs : h.field === 12 ? g.outputs : g.valueInfo).push(vi);
          break;
        }
        default:
          g.rest.push(await this.raw(h, end));
      }
    }
    return g;
  }

  async valueInfo(bytes: Uint8Array): Promise<ValueInfo> {
    const r = WireReader.fromBytes(bytes, this.file);
    const vi: ValueInfo = { name: '', elemType: 0, bytes };
    for (let h = await r.next(r.size); h; h = await r.next(r.size)) {
      if (h.field === 1 && h.wireType === WIRE.LEN) vi.name = await r.string(r.size, MAX_NAME);
      else if (h.field === 2 && h.wireType === WIRE.LEN) {
        const tEnd = await r.lengthEnd(r.size);
        for (let t = await r.next(tEnd); t; t = await r.next(tEnd)) {
          if (t.field === 1 && t.wireType === WIRE.LEN) {
            const ttEnd = await r.lengthEnd(tEnd);
            for (let e = await r.next(ttEnd); e; e = await r.next(ttEnd)) {
              if (e.field === 1 && e.wireType === WIRE.VARINT) vi.elemType = Number(await r.int64(ttEnd));
              else await r.skip(e, ttEnd);
            }
          } else await r.skip(t, tEnd);
        }
      } else await r.skip(h, r.size);
    }
    return vi;
  }

  async node(_h: FieldHeader, end: number): Promise<Node> {
    const r = this.r;
    const n: Node = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [], rest: [] };
    for (let h = await r.next(end); h; h = await r.next(end)) {
      if (h.wireType === WIRE.LEN && h.field === 1) n.inputs.push(await r.string(end, MAX_NAME));
      else if (h.wireType === WIRE.LEN && h.field === 2) n.outputs.push(await r.string(end, MAX_NAME));
      else if (h.wireType === WIRE.LEN && h.field === 3) n.name = await r.string(end, MAX_NAME);
      else if (h.wireType === WIRE.LEN && h.field === 4) n.opType = await r.string(end, MAX_NAME);
      else if (h.wireType === WIRE.LEN && h.field === 7) n.domain = await r.string(end, MAX_NAME);
      else if (h.wireType === WIRE.LEN && h.field === 5)
        n.attributes.push(await this.attribute(h, await r.lengthEnd(end)));
      else n.rest.push(await this.raw(h, end));
    }
    return n;
  }

  async attribute(h0: FieldHeader, end: number): Promise<Attribute> {
    const r = this.r;
    const a: Attribute = { name: '', type: 0, rest: [], whole: { bytes: new Uint8Array() } };
    for (let h = await r.next(end); h; h = await r.next(end)) {
      if (h.field === 1 && h.wireType === WIRE.LEN) a.name = await r.string(end, MAX_NAME);
      else if (h.field === 20 && h.wireType === WIRE.VARINT) a.type = Number(await r.int64(end));
      else if (h.field === 3 && h.wireType === WIRE.VARINT) {
        a.i = await r.int64(end);
      } else if (h.field === 5 && h.wireType === WIRE.LEN) a.t = await this.tensor(h, await r.lengthEnd(end));
      else if (h.field === 6 && h.wireType === WIRE.LEN) a.g = await this.graph(await r.lengthEnd(end));
      else if (h.field === 11 && h.wireType === WIRE.LEN) {
        a.graphs ??= [];
        a.graphs.push(await this.graph(await r.lengthEnd(end)));
      } else a.rest.push(await this.raw(h, end));
    }
    a.whole = await this.wholeField(h0, end);
    return a;
  }

  async wholeField(h: FieldHeader, end: number): Promise<RawField> {
    return end - h.at <= SMALL ? { bytes: await this.r.slice(h.at, end, SMALL) } : { at: h.at, end };
  }

  async tensor(h0: FieldHeader, end: number): Promise<Tensor> {
    const r = this.r;
    const t: Tensor = {
      name: '',
      dataType: 0,
      dims: [],
      external: false,
      rest: [],
      whole: { bytes: new Uint8Array() },
      externalOther: [],
    };
    let ext: { location?: string; offset?: number; length?: number } | undefined;
    for (let h = await r.next(end); h; h = await r.next(end)) {
      if (h.field === 1) {
        const dims: bigint[] = [];
        await r.repeatedVarint(h, end, dims);
        t.dims.push(...dims);
        t.rest.push(await this.wholeRange(h.at, r.position));
      } else if (h.field === 2 && h.wireType === WIRE.VARINT) t.dataType = Number(await r.int64(end));
      else if (h.field === 8 && h.wireType === WIRE.LEN) t.name = await r.string(end, MAX_NAME);
      else if ((h.field === 9 || h.field === 4) && h.wireType === WIRE.LEN) {
        const payloadEnd = await r.lengthEnd(end);
        t.data = { file: this.file, offset: r.position, length: payloadEnd - r.position };
        // Kept verbatim too, for when the tensor is written unchanged.
        r.position = payloadEnd;
        t.rest.push(await this.wholeRange(h.at, payloadEnd, true));
      } else if (h.field === 4 && h.wireType === WIRE.I32) {
        const b = await r.slice(r.position, r.position + 4, 4);
        r.position += 4;
        t.floats ??= [];
        t.floats.push(Buffer.from(b).readFloatLE(0));
        t.rest.push(await this.wholeRange(h.at, r.position, true));
      } else if (h.field === 14 && h.wireType === WIRE.VARINT) {
        t.external = (await r.int64(end)) === 1n;
      } else if (h.field === 13 && h.wireType === WIRE.LEN) {
        const eEnd = await r.lengthEnd(end);
        let key = '';
        let value = '';
        for (let e = await r.next(eEnd); e; e = await r.next(eEnd)) {
          if (e.field === 1 && e.wireType === WIRE.LEN) key = await r.string(eEnd, MAX_NAME);
          else if (e.field === 2 && e.wireType === WIRE.LEN) value = await r.string(eEnd, MAX_NAME);
          else await r.skip(e, eEnd);
        }
        ext ??= {};
        if (key === 'location') ext.location = value;
        else if (key === 'offset') ext.offset = Number(value);
        else if (key === 'length') ext.length = Number(value);
        else t.externalOther.push([key, value]);
      } else t.rest.push(await this.raw(h, end));
    }
    t.whole = await this.wholeField(h0, end);
    if (t.external) {
      if (!ext?.location) throw this.unsupported(`tensor '${t.name}' is external but names no location`);
      const loc = ext.location;
      if (path.isAbsolute(loc) || loc.split(/[\\/]/).includes('..')) {
        throw this.unsupported(`tensor '${t.name}': external data location '${loc}' leaves the model's folder`);
      }
      t.data = {
        file: path.join(path.dirname(this.file), loc),
        offset: ext.offset ?? 0,
        length: ext.length ?? -1,
      };
    }
    if (t.data && t.dataType === ELEM.FLOAT && t.data.length >= 0 && t.data.length % 4 !== 0) {
      throw new InspectError(
        'MSB_INSPECT_CORRUPT',
        `${this.file}: tensor '${t.name}' has ${t.data.length} bytes of FP32 data`,
        {
          path: this.file,
        },
      );
    }
    return t;
  }

  /** A data field: marked so a rewrite can drop it when it writes converted data instead. */
  async wholeRange(at: number, end: number, data = false): Promise<RawField> {
    const f: RawField = end - at <= SMALL ? { bytes: await this.r.slice(at, end, SMALL) } : { at, end };
    if (data) DATA_FIELDS.add(f);
    return f;
  }

  unsupported(message: string): OnnxError {
    return new OnnxError('MSB_ONNX_UNSUPPORTED', `${this.file}: ${message}`, { path: this.file });
  }
}

/** The raw fields of tensors that hold their data (raw_data, packed float_data). */
const DATA_FIELDS = new WeakSet<RawField>();
export const isDataField = (f: RawField) => DATA_FIELDS.has(f);

/** Reads an ONNX model's structure; tensor data stays in its files. */
export async function readModel(file: string): Promise<Model> {
  let reader: WireReader;
  try {
    reader = await WireReader.open(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InspectError(
      e.code === 'ENOENT' ? 'MSB_INSPECT_NOT_FOUND' : 'MSB_INSPECT_UNREADABLE',
      `${file}: ${e.message}`,
      { path: file },
      { cause: err },
    );
  }
  try {
    if (reader.size === 0) throw new InspectError('MSB_INSPECT_CORRUPT', `${file}: the file is empty`, { path: file });
    return await new Parser(reader, file).model();
  } finally {
    await reader.close();
  }
}

/** Every graph of a model, the main one first, then subgraphs (If/Loop/Scan bodies), depth first. */
export function* allGraphs(g: Graph): Generator<Graph> {
  yield g;
  for (const n of g.nodes)
    for (const a of n.attributes) {
      if (a.g) yield* allGraphs(a.g);
      for (const s of a.graphs ?? []) yield* allGraphs(s);
    }
}
