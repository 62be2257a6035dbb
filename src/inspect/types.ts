/**
 * inspect's vocabulary: what msb knows about a model's interface, independent of its format. A leaf module (it
 * imports only config's generated types, itself a leaf), so config, store and tensorrt can name these types without
 * loading inspect, and config and inspect do not import each other (test/boundaries.test.ts checks both).
 */
import type { DataType } from '../config/model-config.js';

export type { DataType } from '../config/model-config.js';

/** Model file formats msb recognises. `custom` is a custom backend library; `ensemble` has no file at all. */
export type ModelFormat =
  | 'onnx'
  | 'tensorrt_plan'
  | 'tf_savedmodel'
  | 'tf_graphdef'
  | 'torchscript'
  | 'openvino'
  | 'python'
  | 'custom'
  | 'ensemble';

export interface TensorSignature {
  name: string;
  /** Triton's data type name (`TYPE_FP32`, ...). */
  dataType: DataType;
  /** The full shape as the file states it, batch dimension included; -1 = dynamic, symbolic or unknown. */
  dims: number[];
  /** Symbolic names of the dims where the format has them (ONNX dim_param), else null per dim. */
  dimParams?: (string | null)[];
  /** TensorRT: a shape tensor (its values feed shape computations); Triton's config marks it `is_shape_tensor`. */
  shapeTensor?: boolean;
}

export interface ModelSignature {
  format: ModelFormat;
  /** Triton platform name (`onnxruntime_onnx`, `tensorrt_plan`, ...); absent for backend-only formats. */
  platform?: string;
  /** Triton backend name (`onnxruntime`, `tensorrt`, `python`, ...); empty for ensembles. */
  backend: string;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  /**
   * Inputs a request may leave out (ONNX initializers listed as graph inputs, IR version >= 4: onnxruntime's
   * "overridable initializers", which Triton's config may name with `optional: true`).
   */
  optionalInputs?: TensorSignature[];
  /** The leading dimension of every input and output is one shared dynamic dimension Triton can batch along. */
  batchDim: boolean;
  /** The largest batch the model itself accepts (TensorRT: max of dim 0 over the optimization profiles). */
  maxBatchSize?: number;
  /** Format facts worth showing: producer, irVersion, opsets, tensorrtVersion, signatureName, ... */
  metadata: Record<string, string>;
}

/**
 * TensorRT plans start with "ftrt" (see plan.ts for what else is known about the header). Here, not in
 * signature.ts, because ultralytics.ts (which signature.ts uses to recognise wrapped engines) needs it too.
 */
export const PLAN_MAGIC = [0x66, 0x74, 0x72, 0x74];
