/**
 * TensorFlow SavedModel directories: the signature Triton's TensorFlow backend serves, read from `saved_model.pb`.
 *
 * Mirrors the backend (triton-inference-server/tensorflow_backend `mirror/tensorflow_backend_tf.cc`,
 * TRITONTF_ModelCreateFromSavedModel): the MetaGraphDef tagged "serve"; the SignatureDef named in the config or
 * else "serving_default", falling back (only when none was named) to the first one that is neither
 * `__saved_model_init_op` nor `__saved_model_train_op`; each input/output is named by its SignatureDef map KEY
 * (the TensorInfo's own name, e.g. "serving_default_x:0", is only the in-graph name).
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { InspectError } from './errors.js';
import { leadingDynamicDim, type ModelSignature, type TensorSignature } from './signature.js';
import {
  createReader,
  decodeOrCorrupt,
  forEachField,
  type Reader,
  readInt64,
  readMapEntry,
  readProtoFile,
  readShape,
  subMessageEnd,
  tritonType,
  WIRE,
} from './tf-common.js';

const SERVE_TAG = 'serve';
const DEFAULT_SIGNATURE = 'serving_default';
const NOT_SERVING = new Set(['__saved_model_init_op', '__saved_model_train_op']);

interface RawTensor {
  key: string;
  inGraphName: string;
  dtype: number;
  dims: number[] | undefined;
  encoding: 'dense' | 'sparse' | 'composite';
}
interface RawSignature {
  key: string;
  inputs: RawTensor[];
  outputs: RawTensor[];
  methodName: string;
}
interface RawMetaGraph {
  tags: string[];
  tensorflowVersion: string;
  signatures: RawSignature[];
}

function readTensorInfo(r: Reader, end: number, key: string): RawTensor {
  const t: RawTensor = { key, inGraphName: '', dtype: 0, dims: [], encoding: 'dense' };
  forEachField(r, end, (field, wt) => {
    if (field === 1 && wt === WIRE.LEN) t.inGraphName = r.string();
    else if (field === 2 && wt === WIRE.VARINT) t.dtype = r.int32();
    else if (field === 3 && wt === WIRE.LEN) t.dims = readShape(r, subMessageEnd(r));
    else if (field === 4 && wt === WIRE.LEN) {
      t.encoding = 'sparse';
      return false;
    } else if (field === 5 && wt === WIRE.LEN) {
      t.encoding = 'composite';
      return false;
    } else return false;
    return true;
  });
  return t;
}

function readSignatureDef(r: Reader, end: number, key: string): RawSignature {
  const sig: RawSignature = { key, inputs: [], outputs: [], methodName: '' };
  forEachField(r, end, (field, wt) => {
    if ((field === 1 || field === 2) && wt === WIRE.LEN) {
      let info: RawTensor | undefined;
      const k = readMapEntry(r, (e) => {
        info = readTensorInfo(r, e, '');
      });
      const t = info ?? { key: k, inGraphName: '', dtype: 0, dims: [], encoding: 'dense' as const };
      t.key = k;
      (field === 1 ? sig.inputs : sig.outputs).push(t);
      return true;
    }
    if (field === 3 && wt === WIRE.LEN) {
      sig.methodName = r.string();
      return true;
    }
    return false;
  });
  return sig;
}

function readMetaGraph(r: Reader, end: number): RawMetaGraph {
  const mg: RawMetaGraph = { tags: [], tensorflowVersion: '', signatures: [] };
  forEachField(r, end, (field, wt) => {
    if (field === 1 && wt === WIRE.LEN) {
      forEachField(r, subMessageEnd(r), (f, w) => {
        if (f === 4 && w === WIRE.LEN) mg.tags.push(r.string());
        else if (f === 5 && w === WIRE.LEN) mg.tensorflowVersion = r.string();
        else return false;
        return true;
      });
      return true;
    }
    if (field === 5 && wt === WIRE.LEN) {
      let sig: RawSignature | undefined;
      const key = readMapEntry(r, (e) => {
        sig = readSignatureDef(r, e, '');
      });
      mg.signatures.push(sig ? { ...sig, key } : { key, inputs: [], outputs: [], methodName: '' });
      return true;
    }
    return false; // graph_def (2) and the rest are skipped by length
  });
  return mg;
}

/** Decodes the MetaGraphDefs of a serialized SavedModel message. */
export function decodeSavedModel(bytes: Uint8Array): { schemaVersion: number; metaGraphs: RawMetaGraph[] } {
  const r = createReader(bytes);
  let schemaVersion = 0;
  const metaGraphs: RawMetaGraph[] = [];
  forEachField(r, bytes.length, (field, wt) => {
    if (field === 1 && wt === WIRE.VARINT) schemaVersion = readInt64(r);
    else if (field === 2 && wt === WIRE.LEN) metaGraphs.push(readMetaGraph(r, subMessageEnd(r)));
    else return false;
    return true;
  });
  return { schemaVersion, metaGraphs };
}

export async function inspectSavedModel(
  dir: string,
  options: { signatureName?: string } = {},
): Promise<ModelSignature> {
  const file = path.join(dir, 'saved_model.pb');
  await access(file).catch((err: NodeJS.ErrnoException) => {
    throw new InspectError(
      'MSB_INSPECT_NOT_FOUND',
      `${dir}: no saved_model.pb in this SavedModel directory`,
      { path: dir },
      {
        cause: err,
      },
    );
  });
  const bytes = await readProtoFile(file, 'SavedModel');
  const saved = decodeOrCorrupt(file, 'SavedModel', () => decodeSavedModel(bytes));
  if (saved.metaGraphs.length === 0) {
    throw new InspectError('MSB_INSPECT_CORRUPT', `${file}: a SavedModel without any MetaGraphDef`, { path: file });
  }
  const mg = saved.metaGraphs.find((m) => m.tags.includes(SERVE_TAG));
  if (!mg) {
    throw new InspectError(
      'MSB_INSPECT_SIGNATURE_REQUIRED',
      `${file}: no MetaGraphDef tagged '${SERVE_TAG}' (tags: ${saved.metaGraphs.map((m) => `[${m.tags.join(', ')}]`).join(' ')}); Triton serves only that one`,
      { path: file },
    );
  }
  const wanted = options.signatureName ?? DEFAULT_SIGNATURE;
  let sig = mg.signatures.find((s) => s.key === wanted);
  if (!sig && options.signatureName === undefined) sig = mg.signatures.find((s) => !NOT_SERVING.has(s.key));
  if (!sig) {
    throw new InspectError(
      'MSB_INSPECT_SIGNATURE_NOT_FOUND',
      `${file}: no signature '${wanted}'; the serving MetaGraphDef has ${mg.signatures.map((s) => `'${s.key}'`).join(', ') || 'none'} (choose one with --signature NAME)`,
      { path: file, signature: wanted },
    );
  }
  const convert = (t: RawTensor): TensorSignature => {
    if (t.encoding !== 'dense') {
      throw new InspectError(
        'MSB_INSPECT_UNSUPPORTED_TYPE',
        `${file}: signature '${sig.key}' tensor '${t.key}' is a ${t.encoding} tensor; Triton serves dense tensors only`,
        { path: file, tensor: t.key },
      );
    }
    if (t.dims === undefined) {
      throw new InspectError(
        'MSB_INSPECT_SIGNATURE_REQUIRED',
        `${file}: signature '${sig.key}' tensor '${t.key}' has unknown rank; Triton needs its dims`,
        { path: file, tensor: t.key },
      );
    }
    return { name: t.key, dataType: tritonType(t.dtype, t.key, file), dims: t.dims };
  };
  const inputs = sig.inputs.map(convert);
  const outputs = sig.outputs.map(convert);
  const metadata: Record<string, string> = {
    signatureName: sig.key,
    tags: mg.tags.join(','),
    savedModelSchemaVersion: String(saved.schemaVersion),
  };
  if (sig.methodName) metadata.methodName = sig.methodName;
  if (mg.tensorflowVersion) metadata.tensorflowVersion = mg.tensorflowVersion;
  return {
    format: 'tf_savedmodel',
    platform: 'tensorflow_savedmodel',
    backend: 'tensorflow',
    inputs,
    outputs,
    batchDim: leadingDynamicDim([...inputs, ...outputs]),
    metadata,
  };
}
