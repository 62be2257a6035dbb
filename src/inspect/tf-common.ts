/**
 * The few TensorFlow protobuf messages msb reads, decoded field by field with the streaming wire reader
 * (`protowire.ts`): only the fields named here are read; every other field (graph constants, function libraries) is
 * skipped by seeking past its length prefix, so a large graph costs a few reads, not its size in memory.
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
import { stat } from 'node:fs/promises';
import { InspectError } from './errors.js';
import { type FieldHeader, WIRE, WireReader } from './protowire.js';
import type { DataType } from './types.js';

export { type FieldHeader, WIRE, WireReader };

/** Calls `onField` for each field of the message ending at `end`; fields it returns false for are skipped. */
export async function forEachField(
  r: WireReader,
  end: number,
  onField: (h: FieldHeader) => Promise<boolean> | boolean,
): Promise<void> {
  for (let h = await r.next(end); h; h = await r.next(end)) {
    if (!(await onField(h))) await r.skip(h, end);
  }
}

/** A `map<string, M>` entry at the reader: its key, with `onValue(end)` called on the value message. */
export async function readMapEntry(
  r: WireReader,
  end: number,
  onValue: (end: number) => Promise<void>,
): Promise<string> {
  const entryEnd = await r.lengthEnd(end);
  let key = '';
  await forEachField(r, entryEnd, async (h) => {
    if (h.field === 1 && h.wireType === WIRE.LEN) key = await r.string(entryEnd);
    else if (h.field === 2 && h.wireType === WIRE.LEN) await onValue(await r.lengthEnd(entryEnd));
    else return false;
    return true;
  });
  return key;
}

/** A TensorShapeProto: dims with -1 for unknown sizes; undefined when the rank itself is unknown. */
export async function readShape(r: WireReader, end: number): Promise<number[] | undefined> {
  const dims: number[] = [];
  let unknownRank = false;
  await forEachField(r, end, async (h) => {
    if (h.field === 2 && h.wireType === WIRE.LEN) {
      const dimEnd = await r.lengthEnd(end);
      let size = 0n;
      await forEachField(r, dimEnd, async (d) => {
        if (d.field !== 1 || d.wireType !== WIRE.VARINT) return false;
        size = await r.int64(dimEnd);
        return true;
      });
      dims.push(size < 0n ? -1 : Number(size));
    } else if (h.field === 3 && h.wireType === WIRE.VARINT) {
      unknownRank = (await r.varint(end)) !== 0n;
    } else return false;
    return true;
  });
  return unknownRank ? undefined : dims;
}

/** An enum or int32 field's value. */
export async function readEnum(r: WireReader, end: number): Promise<number> {
  return Number(BigInt.asIntN(32, await r.varint(end)));
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

/** Protobuf's own limit on a serialized message (2 GiB - 1): TensorFlow cannot write a larger GraphDef/SavedModel. */
const PROTO_LIMIT = 2 ** 31 - 1;

/**
 * Opens a serialized TF message, refusing a file protobuf itself could never have written; runs `read` and closes
 * the file whatever happens.
 */
export async function withProtoFile<T>(file: string, what: string, read: (r: WireReader) => Promise<T>): Promise<T> {
  const { size } = await stat(file);
  if (size > PROTO_LIMIT) {
    throw new InspectError(
      'MSB_INSPECT_CORRUPT',
      `${file}: ${size} bytes is beyond protobuf's 2 GiB message limit, so not a ${what}`,
      { path: file },
    );
  }
  const r = await WireReader.open(file);
  try {
    return await read(r);
  } finally {
    await r.close();
  }
}
