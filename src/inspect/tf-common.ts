/**
 * The few TensorFlow protobuf messages msb reads, decoded field by field on the wire with protobufjs's Reader: only
 * the fields named here are decoded, every other field (graph constants, function libraries) is skipped by its
 * length prefix without being copied.
 *
 * Field numbers, checked against tensorflow/tensorflow `core/protobuf/meta_graph.proto` (commit 732e2b9),
 * `core/protobuf/saved_model.proto`, `core/framework/{graph,node_def,attr_value,tensor_shape,types}.proto` (as
 * mirrored in sonos/tract's generated `tensorflow.rs`):
 *   SavedModel { int64 saved_model_schema_version = 1; repeated MetaGraphDef meta_graphs = 2 }
 *   MetaGraphDef { MetaInfoDef meta_info_def = 1; GraphDef graph_def = 2; map<string, SignatureDef> signature_def = 5 }
 *   MetaInfoDef { repeated string tags = 4; string tensorflow_version = 5 }
 *   SignatureDef { map<string, TensorInfo> inputs = 1; map<string, TensorInfo> outputs = 2; string method_name = 3 }
 *   TensorInfo { string name = 1; DataType dtype = 2; TensorShapeProto tensor_shape = 3; coo_sparse = 4; composite_tensor = 5 }
 *   TensorShapeProto { repeated Dim dim = 2; bool unknown_rank = 3 }   Dim { int64 size = 1; string name = 2 }
 *   GraphDef { repeated NodeDef node = 1 }   NodeDef { string name = 1; string op = 2; map<string, AttrValue> attr = 5 }
 *   AttrValue { oneof: list = 1, s = 2, i = 3, f = 4, b = 5, type = 6, shape = 7, tensor = 8, placeholder = 9, func = 10 }
 *   map entries: { key = 1; value = 2 }
 */
import { readFile, stat } from 'node:fs/promises';
import protobuf from 'protobufjs';
import type { DataType } from '../config/index.js';
import { InspectError } from './errors.js';

export type Reader = protobuf.Reader;

/** Wire types. */
const VARINT = 0;
const LEN = 2;

/**
 * Calls `onField(field, wireType, reader)` for each field of the message in `r` up to `end`; the callback reads the
 * value or returns false to have it skipped. Malformed input surfaces as MSB_INSPECT_CORRUPT.
 */
export function forEachField(
  r: Reader,
  end: number,
  onField: (field: number, wireType: number) => boolean | undefined,
): void {
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 0) throw new RangeError('field number 0');
    if (!onField(field, wireType)) r.skipType(wireType);
  }
  if (r.pos !== end) throw new RangeError('a field runs past the end of its message');
}

/** Position of the end of the length-delimited field the reader is at (after reading its length). */
export function subMessageEnd(r: Reader): number {
  const len = r.uint32();
  const end = r.pos + len;
  if (end > r.len) throw new RangeError('length prefix beyond the end of the data');
  return end;
}

export function readInt64(r: Reader): number {
  const v = r.int64() as unknown as number | { toNumber(): number };
  return typeof v === 'number' ? v : v.toNumber();
}

/** Reads a `map<string, M>` entry: returns the key and calls `onValue` for the value message. */
export function readMapEntry(r: Reader, onValue: (end: number) => void): string {
  const end = subMessageEnd(r);
  let key = '';
  forEachField(r, end, (field, wt) => {
    if (field === 1 && wt === LEN) {
      key = r.string();
      return true;
    }
    if (field === 2 && wt === LEN) {
      onValue(subMessageEnd(r));
      return true;
    }
    return false;
  });
  return key;
}

/** A TensorShapeProto: dims with -1 for unknown sizes; undefined when the rank itself is unknown. */
export function readShape(r: Reader, end: number): number[] | undefined {
  const dims: number[] = [];
  let unknownRank = false;
  forEachField(r, end, (field, wt) => {
    if (field === 2 && wt === LEN) {
      const dimEnd = subMessageEnd(r);
      let size = 0;
      forEachField(r, dimEnd, (f, w) => {
        if (f === 1 && w === VARINT) {
          size = readInt64(r);
          return true;
        }
        return false;
      });
      dims.push(size < 0 ? -1 : size);
      return true;
    }
    if (field === 3 && wt === VARINT) {
      unknownRank = r.bool();
      return true;
    }
    return false;
  });
  return unknownRank ? undefined : dims;
}

/** TensorFlow DataType enum → Triton, as Triton's TensorFlow backend converts it (`ConvertDataType`). */
const TF_TO_TRITON: Record<number, DataType> = {
  1: 'TYPE_FP32', // DT_FLOAT
  2: 'TYPE_FP64', // DT_DOUBLE
  3: 'TYPE_INT32',
  4: 'TYPE_UINT8',
  5: 'TYPE_INT16',
  6: 'TYPE_INT8',
  7: 'TYPE_STRING',
  9: 'TYPE_INT64',
  10: 'TYPE_BOOL',
  17: 'TYPE_UINT16',
  19: 'TYPE_FP16', // DT_HALF
  22: 'TYPE_UINT32',
  23: 'TYPE_UINT64',
};

const TF_NAMES: Record<number, string> = {
  0: 'DT_INVALID',
  8: 'DT_COMPLEX64',
  11: 'DT_QINT8',
  12: 'DT_QUINT8',
  13: 'DT_QINT32',
  14: 'DT_BFLOAT16',
  15: 'DT_QINT16',
  16: 'DT_QUINT16',
  18: 'DT_COMPLEX128',
  20: 'DT_RESOURCE',
  21: 'DT_VARIANT',
};

/** The Triton type of a TF dtype, or MSB_INSPECT_UNSUPPORTED_TYPE naming the tensor (Triton's TF backend refuses it too). */
export function tritonType(dtype: number, tensor: string, file: string): DataType {
  const t = TF_TO_TRITON[dtype];
  if (t) return t;
  const name = TF_NAMES[dtype] ?? (dtype > 100 ? `a reference type (${dtype})` : `DataType ${dtype}`);
  throw new InspectError(
    'MSB_INSPECT_UNSUPPORTED_TYPE',
    `${file}: tensor '${tensor}' has type ${name}, which Triton's TensorFlow backend cannot serve`,
    { path: file, tensor },
  );
}

/** Runs a decoder over bytes, turning wire-format errors into MSB_INSPECT_CORRUPT. */
export function decodeOrCorrupt<T>(file: string, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof InspectError) throw err;
    throw new InspectError(
      'MSB_INSPECT_CORRUPT',
      `${file}: not a valid ${what}: ${(err as Error).message}`,
      { path: file },
      {
        cause: err,
      },
    );
  }
}

export const WIRE = { VARINT, LEN };

export function createReader(bytes: Uint8Array): Reader {
  return protobuf.Reader.create(bytes);
}

/** Protobuf's own limit on a serialized message (2 GiB - 1): TensorFlow cannot write a larger GraphDef/SavedModel. */
const PROTO_LIMIT = 2 ** 31 - 1;

/** Reads a serialized TF message, refusing a file protobuf itself could never have written. */
export async function readProtoFile(file: string, what: string): Promise<Buffer> {
  const { size } = await stat(file);
  if (size > PROTO_LIMIT) {
    throw new InspectError(
      'MSB_INSPECT_CORRUPT',
      `${file}: ${size} bytes is beyond protobuf's 2 GiB message limit, so not a ${what}`,
      { path: file },
    );
  }
  return readFile(file);
}
