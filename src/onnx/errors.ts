import { defineErrors, retryableOf } from '../errors.js';

/**
 * An ONNX rewrite or an ONNX Runtime run failed. `details.path` names the file where there is one. A model or an
 * option says the same thing every time: only writing the output may succeed later.
 */
export class OnnxError extends defineErrors('MSB_ONNX_', {
  /** The optional package onnxruntime-node is not installed (or cannot load). */
  MSB_ONNX_RUNTIME_MISSING: { retryable: false },
  /** ONNX Runtime could not load or run a model; the message is ONNX Runtime's own. */
  MSB_ONNX_RUNTIME_FAILED: { retryable: false },
  /** An option out of range or contradicting the model (an unknown --exclude-node, output = input, ...). */
  MSB_ONNX_BAD_OPTION: { retryable: false },
  /** An inputs or calibration file that does not fit the model. */
  MSB_ONNX_BAD_INPUTS: { retryable: false },
  /** BF16 needs opset 13 or later. */
  MSB_ONNX_OPSET_TOO_OLD: { retryable: false },
  /** A model this rewrite cannot handle (external data outside the model's folder, truncated data). */
  MSB_ONNX_UNSUPPORTED: { retryable: false },
  /** The output cannot be written (disk full, permissions): may succeed later. */
  MSB_ONNX_OUTPUT: { retryable: true },
}) {}

export type OnnxErrorCode = keyof typeof OnnxError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `OnnxError.codes`). */
export const ONNX_ERROR_RETRYABLE = retryableOf(OnnxError.codes);
