/**
 * What msb knows about a model's interface, independent of its format, and how a file or directory is recognised.
 *
 * Recognition looks at content first (magic bytes, archive layout, a directory's `saved_model.pb`) and falls back
 * to the name only where a format has no magic of its own (ONNX and TF GraphDef are bare protobuf messages).
 */
import type { Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InspectError } from './errors.js';
import { type ModelFormat, type ModelSignature, PLAN_MAGIC, type TensorSignature } from './types.js';
import { readUltralyticsEngine, type UltralyticsEngine } from './ultralytics.js';

export { type ModelFormat, type ModelSignature, PLAN_MAGIC, type TensorSignature } from './types.js';

/** Triton's platform/backend pair and default model file name per format (core `src/constants.h`). */
export const FORMAT_TRITON: Record<ModelFormat, { platform?: string; backend: string; defaultFilename?: string }> = {
  onnx: { platform: 'onnxruntime_onnx', backend: 'onnxruntime', defaultFilename: 'model.onnx' },
  tensorrt_plan: { platform: 'tensorrt_plan', backend: 'tensorrt', defaultFilename: 'model.plan' },
  tf_savedmodel: { platform: 'tensorflow_savedmodel', backend: 'tensorflow', defaultFilename: 'model.savedmodel' },
  tf_graphdef: { platform: 'tensorflow_graphdef', backend: 'tensorflow', defaultFilename: 'model.graphdef' },
  torchscript: { platform: 'pytorch_libtorch', backend: 'pytorch', defaultFilename: 'model.pt' },
  openvino: { backend: 'openvino', defaultFilename: 'model.xml' },
  python: { backend: 'python', defaultFilename: 'model.py' },
  custom: { backend: '' },
  ensemble: { platform: 'ensemble', backend: '' },
};

/** What detection found: the format, the path to read, and for custom backends the backend name. */
export interface DetectedModel {
  format: ModelFormat;
  /** The file (or SavedModel directory) to read; may differ from the path given when a directory was given. */
  path: string;
  /** The first bytes of the file (up to 64), for header readers; empty for directories. */
  head: Uint8Array;
  /** Custom backend name from `libtriton_<name>.so`. */
  backend?: string;
  /** A TensorRT plan behind Ultralytics' metadata prefix (see ultralytics.ts). */
  ultralytics?: UltralyticsEngine;
}

const HEAD_BYTES = 64;
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

async function readHead(file: string, size: number): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(HEAD_BYTES, size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Names of Triton's default model files, tried in this order when a directory is given. */
const DEFAULT_FILES: [string, ModelFormat][] = [
  ['model.onnx', 'onnx'],
  ['model.plan', 'tensorrt_plan'],
  ['model.savedmodel', 'tf_savedmodel'],
  ['model.graphdef', 'tf_graphdef'],
  ['model.pt', 'torchscript'],
  ['model.xml', 'openvino'],
  ['model.py', 'python'],
];

/**
 * Recognises a model file or directory. Throws `MSB_INSPECT_NOT_FOUND` when nothing is there and
 * `MSB_INSPECT_UNKNOWN_FORMAT` (naming what was seen) when it is none of the formats msb knows.
 */
export async function detectFormat(target: string): Promise<DetectedModel> {
  const st = await stat(target).catch((err: NodeJS.ErrnoException) => {
    throw new InspectError(
      'MSB_INSPECT_NOT_FOUND',
      `${target}: no such file or directory`,
      { path: target },
      {
        cause: err,
      },
    );
  });
  if (st.isDirectory()) return detectDirectory(target);
  if (!st.isFile()) {
    // A device or pipe reports size 0 (or none) and may never end: it is never read.
    throw new InspectError('MSB_INSPECT_NOT_A_FILE', `${target} is ${fileKind(st)}, not a model file or directory`, {
      path: target,
    });
  }
  const head = await readHead(target, st.size);
  const base = path.basename(target);
  const ext = path.extname(base).toLowerCase();
  if (head.length === 0) {
    throw new InspectError('MSB_INSPECT_UNKNOWN_FORMAT', `${target}: the file is empty`, { path: target });
  }
  if (startsWith(head, PLAN_MAGIC)) return { format: 'tensorrt_plan', path: target, head };
  const ultralytics = await readUltralyticsEngine(target, head);
  if (ultralytics) return { format: 'tensorrt_plan', path: target, head, ultralytics };
  if (startsWith(head, ZIP_MAGIC)) return { format: 'torchscript', path: target, head };
  if (startsWith(head, ELF_MAGIC)) {
    const m = /^libtriton_(.+)\.so(\..*)?$/.exec(base);
    if (m?.[1]) return { format: 'custom', path: target, head, backend: m[1] };
    if (base === 'libcustom.so') return { format: 'custom', path: target, head };
    throw new InspectError(
      'MSB_INSPECT_UNKNOWN_FORMAT',
      `${target}: a shared library, but not a Triton backend (expected libtriton_<backend>.so or libcustom.so)`,
      { path: target },
    );
  }
  if (base === 'saved_model.pb') return { format: 'tf_savedmodel', path: path.dirname(target), head: new Uint8Array() };
  if (ext === '.onnx') return { format: 'onnx', path: target, head };
  if (ext === '.plan' || ext === '.engine' || ext === '.trt') return { format: 'tensorrt_plan', path: target, head };
  if (ext === '.graphdef' || ext === '.pb') return { format: 'tf_graphdef', path: target, head };
  if (ext === '.py') return { format: 'python', path: target, head };
  if (ext === '.xml' && Buffer.from(head).toString('latin1').includes('<net')) {
    return { format: 'openvino', path: target, head };
  }
  // ONNX has no magic: a ModelProto almost always begins with ir_version (field 1, varint: byte 0x08).
  if (head[0] === 0x08) return { format: 'onnx', path: target, head };
  throw new InspectError(
    'MSB_INSPECT_UNKNOWN_FORMAT',
    `${target}: not a model msb recognises (ONNX, TensorRT plan, TF SavedModel/GraphDef, TorchScript, OpenVINO, ` +
      `Python model.py or a Triton backend library); first bytes ${Buffer.from(head.subarray(0, 8)).toString('hex')}`,
    { path: target },
  );
}

/** What a non-regular file is, for messages: "a character device", "a FIFO (named pipe)", ... */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

async function detectDirectory(dir: string): Promise<DetectedModel> {
  const entries = await readdir(dir);
  if (entries.includes('saved_model.pb')) return { format: 'tf_savedmodel', path: dir, head: new Uint8Array() };
  const found = DEFAULT_FILES.filter(([name]) => entries.includes(name));
  if (found.length === 1 && found[0]) return detectFormat(path.join(dir, found[0][0]));
  const what =
    found.length > 1
      ? `several model files (${found.map(([n]) => n).join(', ')}): name the one to inspect`
      : `no saved_model.pb and none of ${DEFAULT_FILES.map(([n]) => n).join(', ')}`;
  throw new InspectError('MSB_INSPECT_UNKNOWN_FORMAT', `${dir}: a directory with ${what}`, { path: dir });
}

/**
 * Triton's test for a batchable model (onnxruntime_backend `AutoCompleteMaxBatch`, same in the TensorRT backend):
 * every input and output has at least one dimension and a dynamic (-1) first one.
 */
export function leadingDynamicDim(tensors: readonly TensorSignature[]): boolean {
  return tensors.length > 0 && tensors.every((t) => t.dims.length > 0 && t.dims[0] === -1);
}

/** A signature for a format whose I/O the user states (TorchScript, Python, custom backends, bare plans). */
export function signatureFromOptions(
  format: ModelFormat,
  inputs: TensorSignature[],
  outputs: TensorSignature[],
  metadata: Record<string, string> = {},
  backend?: string,
): ModelSignature {
  const triton = FORMAT_TRITON[format];
  const sig: ModelSignature = {
    format,
    backend: backend ?? triton.backend,
    inputs,
    outputs,
    batchDim: leadingDynamicDim([...inputs, ...outputs]),
    metadata: { ...metadata, signatureSource: 'options' },
  };
  if (triton.platform) sig.platform = triton.platform;
  return sig;
}

/**
 * Tensors the user stated for a model whose signature is known otherwise (an ONNX graph, a plan's msb record or
 * TensorRT) must agree with it: a silent preference
 * for either would hide a mistake (e.g. the options were meant for another plan).
 */
export function checkStatedTensors(
  file: string,
  known: ModelSignature,
  options: { inputs?: TensorSignature[]; outputs?: TensorSignature[] },
  source: string,
): void {
  const show = (t: TensorSignature) => `${t.name}:${String(t.dataType).replace(/^TYPE_/, '')}:${t.dims.join(',')}`;
  for (const [kind, stated, have] of [
    ['input', options.inputs ?? [], known.inputs],
    ['output', options.outputs ?? [], known.outputs],
  ] as const) {
    for (const t of stated) {
      const k = have.find((h) => h.name === t.name);
      if (
        k &&
        k.dataType === t.dataType &&
        k.dims.length === t.dims.length &&
        k.dims.every((d, i) => d === t.dims[i])
      ) {
        continue;
      }
      throw new InspectError(
        'MSB_INSPECT_CONFLICT',
        `${file}: --${kind} ${show(t)} contradicts ${source}, which has ${k ? show(k) : `${kind}s ${have.map(show).join(' ')}`}`,
        { path: file, tensor: t.name },
      );
    }
  }
}
