/**
 * ONNX model → signature, read from the protobuf wire format without loading weights: initializers, node
 * attributes (Constant tensors) and any other large field are skipped by their length prefix. Field numbers are
 * those of onnx/onnx `onnx/onnx.proto` (ModelProto, GraphProto, ValueInfoProto, TypeProto, TensorShapeProto,
 * TensorProto, SparseTensorProto, OperatorSetIdProto, StringStringEntryProto).
 */

import { InspectError } from './errors.js';
import { type ByteSource, WIRE, WireReader } from './protowire.js';
import { FORMAT_TRITON, type ModelSignature, type TensorSignature } from './signature.js';
import type { DataType } from './types.js';

export interface OnnxModelInfo {
  signature: ModelSignature;
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  graphName: string;
  /** Opset imports: domain ('' is the default ONNX domain) → version. */
  opsets: Record<string, number>;
  metadata: Record<string, string>;
  /** Names of the graph's initializers (weights), which old IR versions also list as graph inputs. */
  initializerCount: number;
}

/** ONNX TensorProto.DataType → Triton data type; the rest have no Triton counterpart. */
const ONNX_TYPES: Record<number, DataType> = {
  1: 'TYPE_FP32',
  2: 'TYPE_UINT8',
  3: 'TYPE_INT8',
  4: 'TYPE_UINT16',
  5: 'TYPE_INT16',
  6: 'TYPE_INT32',
  7: 'TYPE_INT64',
  8: 'TYPE_STRING',
  9: 'TYPE_BOOL',
  10: 'TYPE_FP16',
  11: 'TYPE_FP64',
  12: 'TYPE_UINT32',
  13: 'TYPE_UINT64',
  16: 'TYPE_BF16',
};

const ONNX_TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED',
  14: 'COMPLEX64',
  15: 'COMPLEX128',
  17: 'FLOAT8E4M3FN',
  18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2',
  20: 'FLOAT8E5M2FNUZ',
  21: 'UINT4',
  22: 'INT4',
  23: 'FLOAT4E2M1',
  24: 'FLOAT8E8M0',
};

/** A graph input or output as the file states it, before mapping to Triton types. */
interface ValueInfo {
  name: string;
  /** 'tensor', or the kind of a non-tensor type (sequence, map, optional, sparse_tensor). */
  kind: string;
  elemType: number;
  /** undefined: unknown rank (no shape). */
  dims?: { value?: bigint; param?: string }[];
}

const MAX_NAME = 1 << 20;
const MAX_VALUE_INFO = 16 << 20;

/** Reads an ONNX model's interface. Throws `InspectError` for missing, empty, non-ONNX or corrupt files. */
export async function inspectOnnx(file: string): Promise<OnnxModelInfo> {
  let reader: WireReader;
  try {
    reader = await WireReader.open(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const code = e.code === 'ENOENT' ? 'MSB_INSPECT_NOT_FOUND' : 'MSB_INSPECT_UNREADABLE';
    throw new InspectError(
      code,
      `${file}: ${e.code === 'EISDIR' ? 'is a directory, not an ONNX file' : e.message}`,
      { path: file },
      { cause: err },
    );
  }
  try {
    if (reader.size === 0) throw new InspectError('MSB_INSPECT_CORRUPT', `${file}: the file is empty`, { path: file });
    return await readModel(reader, file);
  } catch (err) {
    if (err instanceof InspectError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EISDIR') {
      throw new InspectError(
        'MSB_INSPECT_UNREADABLE',
        `${file}: is a directory, not an ONNX file`,
        { path: file },
        { cause: err },
      );
    }
    throw err;
  } finally {
    await reader.close();
  }
}

/**
 * Reads an ONNX model's interface from any random-access source (ranged GETs of an object in a store): the same
 * streaming reader as for files, so only the graph's interface is fetched, never the weights.
 */
export async function inspectOnnxSource(source: ByteSource, size: number, name: string): Promise<OnnxModelInfo> {
  const reader = WireReader.fromSource(source, size, name);
  try {
    if (size === 0) throw new InspectError('MSB_INSPECT_CORRUPT', `${name}: the file is empty`, { path: name });
    return await readModel(reader, name);
  } finally {
    await reader.close();
  }
}

async function readModel(r: WireReader, file: string): Promise<OnnxModelInfo> {
  const info = {
    irVersion: 0,
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    graphName: '',
    opsets: {} as Record<string, number>,
    metadata: {} as Record<string, string>,
  };
  const graph = { inputs: [] as ValueInfo[], outputs: [] as ValueInfo[], initializers: new Set<string>(), seen: false };
  const end = r.size;
  for (let h = await r.next(end); h; h = await r.next(end)) {
    switch (h.field) {
      case 1:
        r.expect(h, WIRE.VARINT, 'ir_version');
        info.irVersion = Number(await r.int64(end));
        break;
      case 2:
        r.expect(h, WIRE.LEN, 'producer_name');
        info.producerName = await r.string(end, MAX_NAME);
        break;
      case 3:
        r.expect(h, WIRE.LEN, 'producer_version');
        info.producerVersion = await r.string(end, MAX_NAME);
        break;
      case 4:
        r.expect(h, WIRE.LEN, 'domain');
        info.domain = await r.string(end, MAX_NAME);
        break;
      case 5:
        r.expect(h, WIRE.VARINT, 'model_version');
        info.modelVersion = Number(await r.int64(end));
        break;
      case 7:
        r.expect(h, WIRE.LEN, 'graph');
        graph.seen = true;
        await readGraph(r, await r.lengthEnd(end), graph, info);
        break;
      case 8: {
        r.expect(h, WIRE.LEN, 'opset_import');
        const [domain, version] = await readOpset(r, await r.lengthEnd(end));
        info.opsets[domain] = version;
        break;
      }
      case 14: {
        r.expect(h, WIRE.LEN, 'metadata_props');
        const [k, v] = await readStringPair(r, await r.lengthEnd(end));
        info.metadata[k] = v;
        break;
      }
      default:
        await r.skip(h, end);
    }
  }
  if (!graph.seen || info.irVersion <= 0) {
    throw new InspectError(
      'MSB_INSPECT_CORRUPT',
      `${file}: not an ONNX model (${info.irVersion <= 0 ? 'no ir_version' : 'no graph'})`,
      { path: file },
    );
  }
  const inputs = graph.inputs.filter((i) => !graph.initializers.has(i.name)).map((v) => toTensor(v, file, 'input'));
  const outputs = graph.outputs.map((v) => toTensor(v, file, 'output'));
  // onnxruntime lets a request override an initializer listed as a graph input from IR version 4 on
  // (onnxruntime core/graph/graph.h Graph::CanOverrideInitializer); Triton's config names those `optional`.
  const optionalInputs =
    info.irVersion >= 4
      ? graph.inputs.filter((i) => graph.initializers.has(i.name)).flatMap((v) => tensorOrNone(v, file))
      : [];
  const triton = FORMAT_TRITON.onnx;
  const metadata: Record<string, string> = {
    irVersion: String(info.irVersion),
    opsets: Object.entries(info.opsets)
      .map(([d, v]) => `${d || 'ai.onnx'}:${v}`)
      .join(','),
  };
  if (info.producerName)
    metadata.producer = `${info.producerName}${info.producerVersion ? ` ${info.producerVersion}` : ''}`;
  if (info.graphName) metadata.graph = info.graphName;
  const signature: ModelSignature = {
    format: 'onnx',
    platform: triton.platform as string,
    backend: triton.backend,
    inputs,
    outputs,
    batchDim: sharedBatchDim(inputs, outputs),
    metadata,
  };
  if (optionalInputs.length > 0) signature.optionalInputs = optionalInputs;
  return { ...info, signature, initializerCount: graph.initializers.size };
}

async function readGraph(
  r: WireReader,
  end: number,
  graph: { inputs: ValueInfo[]; outputs: ValueInfo[]; initializers: Set<string> },
  info: { graphName: string },
): Promise<void> {
  for (let h = await r.next(end); h; h = await r.next(end)) {
    switch (h.field) {
      case 2:
        r.expect(h, WIRE.LEN, 'graph name');
        info.graphName = await r.string(end, MAX_NAME);
        break;
      case 5: {
        r.expect(h, WIRE.LEN, 'initializer');
        const name = await readTensorName(r, await r.lengthEnd(end));
        graph.initializers.add(name);
        break;
      }
      case 15: {
        // SparseTensorProto: its name is that of `values` (field 1, a TensorProto).
        r.expect(h, WIRE.LEN, 'sparse_initializer');
        const sparseEnd = await r.lengthEnd(end);
        for (let s = await r.next(sparseEnd); s; s = await r.next(sparseEnd)) {
          if (s.field === 1 && s.wireType === WIRE.LEN)
            graph.initializers.add(await readTensorName(r, await r.lengthEnd(sparseEnd)));
          else await r.skip(s, sparseEnd);
        }
        break;
      }
      case 11:
      case 12: {
        r.expect(h, WIRE.LEN, h.field === 11 ? 'graph input' : 'graph output');
        const bytes = await r.bytes(end, MAX_VALUE_INFO);
        const vi = await readValueInfo(WireReader.fromBytes(bytes, r.name));
        (h.field === 11 ? graph.inputs : graph.outputs).push(vi);
        break;
      }
      default:
        // node (1), value_info (13), doc_string, quantization annotations: not needed, skipped unread.
        await r.skip(h, end);
    }
  }
}

/** The name (field 8) of a TensorProto, skipping its data fields (dims, raw_data, float_data, ...) unread. */
async function readTensorName(r: WireReader, end: number): Promise<string> {
  let name = '';
  for (let h = await r.next(end); h; h = await r.next(end)) {
    if (h.field === 8 && h.wireType === WIRE.LEN) name = await r.string(end, MAX_NAME);
    else await r.skip(h, end);
  }
  return name;
}

async function readOpset(r: WireReader, end: number): Promise<[string, number]> {
  let domain = '';
  let version = 0;
  for (let h = await r.next(end); h; h = await r.next(end)) {
    if (h.field === 1 && h.wireType === WIRE.LEN) domain = await r.string(end, MAX_NAME);
    else if (h.field === 2 && h.wireType === WIRE.VARINT) version = Number(await r.int64(end));
    else await r.skip(h, end);
  }
  return [domain, version];
}

async function readStringPair(r: WireReader, end: number): Promise<[string, string]> {
  let key = '';
  let value = '';
  for (let h = await r.next(end); h; h = await r.next(end)) {
    if (h.field === 1 && h.wireType === WIRE.LEN) key = await r.string(end, MAX_NAME);
    else if (h.field === 2 && h.wireType === WIRE.LEN) value = await r.string(end, MAX_NAME);
    else await r.skip(h, end);
  }
  return [key, value];
}

/** ValueInfoProto: name (1), type (2: TypeProto). */
async function readValueInfo(r: WireReader): Promise<ValueInfo> {
  const vi: ValueInfo = { name: '', kind: 'none', elemType: 0 };
  const end = r.size;
  for (let h = await r.next(end); h; h = await r.next(end)) {
    if (h.field === 1 && h.wireType === WIRE.LEN) vi.name = await r.string(end, MAX_NAME);
    else if (h.field === 2 && h.wireType === WIRE.LEN) await readType(r, await r.lengthEnd(end), vi);
    else await r.skip(h, end);
  }
  return vi;
}

/** TypeProto: tensor_type (1), sequence_type (4), map_type (5), sparse_tensor_type (8), optional_type (9). */
async function readType(r: WireReader, end: number, vi: ValueInfo): Promise<void> {
  const kinds: Record<number, string> = { 4: 'sequence', 5: 'map', 8: 'sparse_tensor', 9: 'optional' };
  for (let h = await r.next(end); h; h = await r.next(end)) {
    if (h.field === 1 && h.wireType === WIRE.LEN) {
      vi.kind = 'tensor';
      const tEnd = await r.lengthEnd(end);
      for (let t = await r.next(tEnd); t; t = await r.next(tEnd)) {
        if (t.field === 1 && t.wireType === WIRE.VARINT) vi.elemType = Number(await r.int64(tEnd));
        else if (t.field === 2 && t.wireType === WIRE.LEN) vi.dims = await readShape(r, await r.lengthEnd(tEnd));
        else await r.skip(t, tEnd);
      }
    } else {
      if (kinds[h.field]) vi.kind = kinds[h.field] as string;
      await r.skip(h, end);
    }
  }
}

/** TensorShapeProto: repeated dim (1): dim_value (1) | dim_param (2). */
async function readShape(r: WireReader, end: number): Promise<{ value?: bigint; param?: string }[]> {
  const dims: { value?: bigint; param?: string }[] = [];
  for (let h = await r.next(end); h; h = await r.next(end)) {
    if (h.field !== 1 || h.wireType !== WIRE.LEN) {
      await r.skip(h, end);
      continue;
    }
    const dEnd = await r.lengthEnd(end);
    const dim: { value?: bigint; param?: string } = {};
    for (let d = await r.next(dEnd); d; d = await r.next(dEnd)) {
      if (d.field === 1 && d.wireType === WIRE.VARINT) {
        dim.value = await r.int64(dEnd);
        delete dim.param;
      } else if (d.field === 2 && d.wireType === WIRE.LEN) {
        dim.param = await r.string(dEnd, MAX_NAME);
        delete dim.value;
      } else await r.skip(d, dEnd);
    }
    dims.push(dim);
  }
  return dims;
}

function toTensor(vi: ValueInfo, file: string, role: 'input' | 'output'): TensorSignature {
  if (vi.kind !== 'tensor') {
    throw new InspectError(
      'MSB_INSPECT_UNSUPPORTED_TYPE',
      `${file}: ${role} '${vi.name}' is ${vi.kind === 'none' ? 'of no type' : `a ${vi.kind}`}; Triton serves tensors only`,
      { path: file, tensor: vi.name },
    );
  }
  const dataType = ONNX_TYPES[vi.elemType];
  if (!dataType) {
    const typeName = ONNX_TYPE_NAMES[vi.elemType] ?? `element type ${vi.elemType}`;
    throw new InspectError(
      'MSB_INSPECT_UNSUPPORTED_TYPE',
      `${file}: ${role} '${vi.name}' has ONNX type ${typeName}, which Triton has no data type for`,
      { path: file, tensor: vi.name, onnxType: vi.elemType },
    );
  }
  if (!vi.dims) {
    throw new InspectError(
      'MSB_INSPECT_UNKNOWN_RANK',
      `${file}: ${role} '${vi.name}' has no shape (unknown rank); give its dims with --${role} ${vi.name}:${String(dataType).replace('TYPE_', '')}:DIMS`,
      { path: file, tensor: vi.name },
    );
  }
  const dims = vi.dims.map((d) => (d.value !== undefined && d.value >= 0n ? Number(d.value) : -1));
  const tensor: TensorSignature = { name: vi.name, dataType, dims };
  if (vi.dims.some((d) => d.param)) tensor.dimParams = vi.dims.map((d) => d.param ?? null);
  return tensor;
}

/** An overridable initializer as a tensor, or nothing when Triton could not serve it anyway. */
function tensorOrNone(vi: ValueInfo, file: string): TensorSignature[] {
  try {
    return [toTensor(vi, file, 'input')];
  } catch {
    return [];
  }
}

/**
 * The batch rule: every input and output has a leading dimension that is not fixed, and where those dimensions are
 * named (dim_param), they all carry the same name. A fixed leading size (even 1) or two different names
 * (e.g. `batch` vs `seq`) mean there is no dimension Triton can batch along.
 */
function sharedBatchDim(inputs: TensorSignature[], outputs: TensorSignature[]): boolean {
  const all = [...inputs, ...outputs];
  if (!all.length || !all.every((t) => t.dims.length > 0 && t.dims[0] === -1)) return false;
  const names = new Set(all.map((t) => t.dimParams?.[0]).filter((n): n is string => !!n));
  return names.size <= 1;
}
