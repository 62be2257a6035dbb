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
  forEachField,
  readEnum,
  readMapEntry,
  readShape,
  tritonType,
  WIRE,
  type WireReader,
  withProtoFile,
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

async function readTensorInfo(r: WireReader, end: number, key: string): Promise<RawTensor> {
  const t: RawTensor = { key, inGraphName: '', dtype: 0, dims: [], encoding: 'dense' };
  await forEachField(r, end, async (h) => {
    if (h.field === 1 && h.wireType === WIRE.LEN) t.inGraphName = await r.string(end);
    else if (h.field === 2 && h.wireType === WIRE.VARINT) t.dtype = await readEnum(r, end);
    else if (h.field === 3 && h.wireType === WIRE.LEN) t.dims = await readShape(r, await r.lengthEnd(end));
    else {
      if (h.field === 4) t.encoding = 'sparse';
      if (h.field === 5) t.encoding = 'composite';
      return false;
    }
    return true;
  });
  return t;
}

async function readSignatureDef(r: WireReader, end: number, key: string): Promise<RawSignature> {
  const sig: RawSignature = { key, inputs: [], outputs: [], methodName: '' };
  await forEachField(r, end, async (h) => {
    if ((h.field === 1 || h.field === 2) && h.wireType === WIRE.LEN) {
      let info: RawTensor = { key: '', inGraphName: '', dtype: 0, dims: [], encoding: 'dense' };
      const k = await readMapEntry(r, end, async (e) => {
        info = await readTensorInfo(r, e, '');
      });
      (h.field === 1 ? sig.inputs : sig.outputs).push({ ...info, key: k });
    } else if (h.field === 3 && h.wireType === WIRE.LEN) sig.methodName = await r.string(end);
    else return false;
    return true;
  });
  return sig;
}

async function readMetaGraph(r: WireReader, end: number): Promise<RawMetaGraph> {
  const mg: RawMetaGraph = { tags: [], tensorflowVersion: '', signatures: [] };
  await forEachField(r, end, async (h) => {
    if (h.field === 1 && h.wireType === WIRE.LEN) {
      const infoEnd = await r.lengthEnd(end);
      await forEachField(r, infoEnd, async (f) => {
        if (f.field === 4 && f.wireType === WIRE.LEN) mg.tags.push(await r.string(infoEnd));
        else if (f.field === 5 && f.wireType === WIRE.LEN) mg.tensorflowVersion = await r.string(infoEnd);
        else return false;
        return true;
      });
    } else if (h.field === 5 && h.wireType === WIRE.LEN) {
      let sig: RawSignature = { key: '', inputs: [], outputs: [], methodName: '' };
      const key = await readMapEntry(r, end, async (e) => {
        sig = await readSignatureDef(r, e, '');
      });
      mg.signatures.push({ ...sig, key });
    } else return false; // graph_def (2) and the rest: skipped by seeking past them
    return true;
  });
  return mg;
}

/** Reads the MetaGraphDefs of a serialized SavedModel message. */
async function readSavedModel(r: WireReader): Promise<{ schemaVersion: number; metaGraphs: RawMetaGraph[] }> {
  let schemaVersion = 0;
  const metaGraphs: RawMetaGraph[] = [];
  await forEachField(r, r.size, async (h) => {
    if (h.field === 1 && h.wireType === WIRE.VARINT) schemaVersion = Number(await r.int64(r.size));
    else if (h.field === 2 && h.wireType === WIRE.LEN)
      metaGraphs.push(await readMetaGraph(r, await r.lengthEnd(r.size)));
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
  const saved = await withProtoFile(file, 'SavedModel', readSavedModel);
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
