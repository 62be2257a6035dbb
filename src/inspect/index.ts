/**
 * Model files → `ModelSignature`: what a model is (format, Triton platform/backend) and its interface (inputs,
 * outputs, batch dimension), read without a GPU. See each format's module for what its files reveal.
 */
import { InspectError } from './errors.js';
import { inspectOnnx } from './onnx.js';
import { inspectPlan } from './plan.js';
import {
  checkStatedTensors,
  detectFormat,
  type ModelSignature,
  signatureFromOptions,
  type TensorSignature,
} from './signature.js';

export { INSPECT_ERROR_RETRYABLE, InspectError, type InspectErrorCode } from './errors.js';
export { inspectOnnx, inspectOnnxSource, type OnnxModelInfo } from './onnx.js';
export {
  type PlanHeader,
  type PlanSidecar,
  planSidecarPath,
  readPlanHeader,
  readPlanSidecar,
  unwrapEngine,
  writePlanSidecar,
} from './plan.js';
export type { ByteSource } from './protowire.js';
export {
  type DetectedModel,
  detectFormat,
  FORMAT_TRITON,
  fileKind,
  type ModelFormat,
  type ModelSignature,
  signatureFromOptions,
  type TensorSignature,
} from './signature.js';
export { parseTensorOption } from './tensor-option.js';
export { type UltralyticsEngine, type UnwrappedEngine, ultralyticsLabels } from './ultralytics.js';

export interface InspectOptions {
  /** Inputs stated by the user (`--input`): required where the format does not describe them. */
  inputs?: TensorSignature[];
  /** Outputs stated by the user (`--output`). */
  outputs?: TensorSignature[];
  /** SavedModel: the SignatureDef to read. Default: `serving_default`. */
  signatureName?: string;
}

function requireNames(tensors: TensorSignature[] | undefined, format: string): void {
  if (tensors?.some((t) => t.name === '')) {
    throw new InspectError(
      'MSB_INSPECT_BAD_TENSOR_OPTION',
      `a ${format} model names its tensors: give NAME:TYPE:DIMS (only TorchScript tensors may be left unnamed)`,
      {},
    );
  }
}

/**
 * Inspects a model file or directory. Formats that describe themselves (ONNX, SavedModel, plans with msb's record)
 * are read; for the others the signature is built from `options.inputs`/`outputs`, and where it cannot be the error
 * (`MSB_INSPECT_SIGNATURE_REQUIRED`) says what to give.
 */
export async function inspectModel(target: string, options: InspectOptions = {}): Promise<ModelSignature> {
  const found = await detectFormat(target);
  if (found.format !== 'torchscript') {
    requireNames(options.inputs, found.format);
    requireNames(options.outputs, found.format);
  }
  switch (found.format) {
    case 'tensorrt_plan':
      return inspectPlan(found.path, found.head, options, found.ultralytics);
    // The TensorFlow and TorchScript readers load when such a model is inspected: `msb inspect model.onnx` (and
    // every importer of this module) does not pay for them.
    case 'tf_savedmodel':
      return (await import('./savedmodel.js')).inspectSavedModel(found.path, options);
    case 'tf_graphdef':
      return (await import('./graphdef.js')).inspectGraphDef(found.path, options);
    case 'torchscript':
      return (await import('./torchscript.js')).inspectTorchScript(found.path, options);
    case 'onnx': {
      const { signature } = await inspectOnnx(found.path);
      checkStatedTensors(found.path, signature, options, 'the ONNX graph');
      return signature;
    }
    default:
      // Python, OpenVINO and custom backends: msb does not read these files, and Triton's backend completes the
      // inputs and outputs it is not told about at load time (auto_complete_config, the OpenVINO/identity
      // backends), so stated tensors are optional.
      return signatureFromOptions(found.format, options.inputs ?? [], options.outputs ?? [], {}, found.backend);
  }
}
