import type { DataType } from '../config/index.js';
import type { ModelSignature, TensorSignature } from '../inspect/types.js';
import type { NativeEngine, NativeTensor } from './native.js';

/** Shapes of one input in one optimization profile. */
export interface ProfileShapes {
  min: number[];
  opt: number[];
  max: number[];
}

export interface EngineTensor {
  name: string;
  /** Triton's data type, `TYPE_INVALID` for TensorRT types Triton's TensorRT backend cannot serve (FP8, INT4, ...). */
  dataType: DataType;
  /** TensorRT's own `DataType` enumerator name (`kFLOAT`, `kHALF`, ...). */
  tensorrtDataType: string;
  /** The engine's shape; -1 marks a dimension that the optimization profiles let vary. */
  dims: number[];
  /** A shape tensor (its values, not its shape, feed shape computations). */
  shapeTensor: boolean;
  /** TensorRT's description of the tensor's memory layout. */
  format: string;
  /** Inputs only: min/opt/max shapes per optimization profile, in profile order. */
  profiles: ProfileShapes[];
}

/** What {@link inspectEngine} reads from a plan. */
export interface EngineSignature {
  /** Version of the TensorRT library that read the plan. */
  tensorrtVersion: string;
  profiles: number;
  layers: number;
  inputs: EngineTensor[];
  outputs: EngineTensor[];
  /** IEngineInspector's JSON engine information (layer details depend on the build's profiling verbosity). */
  engineInformation: unknown;
}

// Triton's TensorRT backend serves these TensorRT types; everything else has no Triton equivalent.
const TRITON_TYPES: Record<string, DataType> = {
  kFLOAT: 'TYPE_FP32',
  kHALF: 'TYPE_FP16',
  kBF16: 'TYPE_BF16',
  kINT8: 'TYPE_INT8',
  kUINT8: 'TYPE_UINT8',
  kINT32: 'TYPE_INT32',
  kINT64: 'TYPE_INT64',
  kBOOL: 'TYPE_BOOL',
};

/** Converts the addon's raw engine description. */
export function engineSignatureFromNative(engine: NativeEngine): EngineSignature {
  const convert = (t: NativeTensor): EngineTensor => ({
    name: t.name,
    dataType: TRITON_TYPES[t.dataType] ?? 'TYPE_INVALID',
    tensorrtDataType: t.dataType,
    dims: t.shape,
    shapeTensor: t.shapeTensor,
    format: t.format,
    profiles: t.profiles,
  });
  let engineInformation: unknown = engine.engineInformation;
  try {
    engineInformation = JSON.parse(engine.engineInformation);
  } catch {
    // Older TensorRT or an empty answer: keep the text as it came.
  }
  return {
    tensorrtVersion: engine.tensorrtVersion,
    profiles: engine.profiles,
    layers: engine.layers,
    inputs: engine.tensors.filter((t) => t.mode === 'input').map(convert),
    outputs: engine.tensors.filter((t) => t.mode === 'output').map(convert),
    engineInformation,
  };
}

/**
 * The engine as the inspect contract's ModelSignature. The engine batches along dim 0 when dim 0 of every
 * (non-shape) input and output is dynamic; the largest batch is, per profile, the smallest max[0] over the inputs,
 * and over all profiles the largest of those — the batch every input accepts in at least one profile.
 */
export function engineToModelSignature(sig: EngineSignature): ModelSignature {
  const toTensor = (t: EngineTensor): TensorSignature => ({
    name: t.name,
    dataType: t.dataType,
    dims: [...t.dims],
    ...(t.shapeTensor ? { shapeTensor: true } : {}),
  });
  const batchInputs = sig.inputs.filter((t) => !t.shapeTensor);
  const batchDim =
    sig.profiles > 0 &&
    batchInputs.length > 0 &&
    [...batchInputs, ...sig.outputs].every((t) => t.dims.length > 0 && t.dims[0] === -1);
  const signature: ModelSignature = {
    format: 'tensorrt_plan',
    platform: 'tensorrt_plan',
    backend: 'tensorrt',
    inputs: sig.inputs.map(toTensor),
    outputs: sig.outputs.map(toTensor),
    batchDim,
    metadata: { tensorrtVersion: sig.tensorrtVersion, profiles: String(sig.profiles) },
  };
  if (batchDim) {
    let best = 0;
    for (let p = 0; p < sig.profiles; p++) {
      const perInput = batchInputs.map((t) => t.profiles[p]?.max[0] ?? 0);
      best = Math.max(best, Math.min(...perInput));
    }
    if (best > 0) signature.maxBatchSize = best;
  }
  return signature;
}
