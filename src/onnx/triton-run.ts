/**
 * Loads an ONNX model the way Triton's ONNX Runtime backend would and runs it once at the shapes its config states:
 * the backend's default graph optimization is "all", and `optimization { graph { level } }` maps -1 → basic,
 * 1 → basic + extended, 2 → disabled (triton-inference-server/onnxruntime_backend README, "Model Config Options").
 * Inputs are the config's, at max_batch_size when the model batches (Triton prepends the batch dimension), with
 * variable dims at 1 and `reshape` applied as the backend applies it; values are seeded uniform [0, 1).
 */
import type { DataType, ModelConfig } from '../config/index.js';
import { OnnxError } from './errors.js';
import { type IoMeta, type OrtType, openSession, randomFeeds, type SessionOptions } from './runtime.js';

const ORT_TYPES: Partial<Record<DataType, OrtType>> = {
  TYPE_BOOL: 'bool',
  TYPE_UINT8: 'uint8',
  TYPE_UINT16: 'uint16',
  TYPE_UINT32: 'uint32',
  TYPE_UINT64: 'uint64',
  TYPE_INT8: 'int8',
  TYPE_INT16: 'int16',
  TYPE_INT32: 'int32',
  TYPE_INT64: 'int64',
  TYPE_FP16: 'float16',
  TYPE_FP32: 'float32',
  TYPE_FP64: 'float64',
  TYPE_STRING: 'string',
};

export interface TritonRunResult {
  /** undefined when the model loaded and ran. */
  failure?: { stage: 'load' | 'run'; message: string };
  /** The input shapes it ran with. */
  shapes: Record<string, number[]>;
}

function optimizationOf(config: ModelConfig): SessionOptions['optimization'] {
  switch (config.optimization?.graph?.level) {
    case -1:
      return 'basic';
    case 1:
      return 'extended';
    case 2:
      return 'disabled';
    default:
      return 'all';
  }
}

/** Runs `file` once as Triton's ONNX Runtime backend would serve it with `config`. */
export async function runAsTriton(file: string, config: ModelConfig): Promise<TritonRunResult> {
  let session: Awaited<ReturnType<typeof openSession>>;
  try {
    session = await openSession(file, { optimization: optimizationOf(config) });
  } catch (err) {
    if (err instanceof OnnxError && err.code === 'MSB_ONNX_RUNTIME_FAILED')
      return { failure: { stage: 'load', message: String(err.details.ortMessage ?? err.message) }, shapes: {} };
    throw err;
  }
  try {
    const batch = (config.maxBatchSize ?? 0) > 0 ? [config.maxBatchSize as number] : [];
    const inputs: IoMeta[] = config.input?.length
      ? config.input.map((i) => {
          const dims = (i.reshape?.shape ?? i.dims ?? []).map(Number);
          const type = (i.dataType && ORT_TYPES[i.dataType]) || session.inputs.find((s) => s.name === i.name)?.type;
          return {
            name: i.name ?? '',
            isTensor: true,
            ...(type ? { type } : {}),
            shape: [...batch, ...dims].map((d) => (d < 0 ? undefined : d)),
          };
        })
      : session.inputs;
    const feeds = randomFeeds(inputs, 1);
    const shapes = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims]));
    try {
      await session.run(feeds);
      return { shapes };
    } catch (err) {
      if (err instanceof OnnxError && err.code === 'MSB_ONNX_RUNTIME_FAILED')
        return { failure: { stage: 'run', message: String(err.details.ortMessage ?? err.message) }, shapes };
      throw err;
    }
  } finally {
    await session.close();
  }
}
