import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of {@link OnnxError}, each with whether retrying can help (the compiler checks every code is
 * classified). A model or an option says the same thing every time: only writing the output may succeed later.
 */
export const ONNX_ERROR_RETRYABLE = {
  /** The optional package onnxruntime-node is not installed (or cannot load). */
  MSB_ONNX_RUNTIME_MISSING: false,
  /** ONNX Runtime could not load or run a model; the message is ONNX Runtime's own. */
  MSB_ONNX_RUNTIME_FAILED: false,
  /** An option out of range or contradicting the model (an unknown --exclude-node, output = input, ...). */
  MSB_ONNX_BAD_OPTION: false,
  /** An inputs or calibration file that does not fit the model. */
  MSB_ONNX_BAD_INPUTS: false,
  /** BF16 needs opset 13 or later. */
  MSB_ONNX_OPSET_TOO_OLD: false,
  /** A model this rewrite cannot handle (external data outside the model's folder, truncated data). */
  MSB_ONNX_UNSUPPORTED: false,
  /** The output cannot be written (disk full, permissions): may succeed later. */
  MSB_ONNX_OUTPUT: true,
} as const satisfies Record<`MSB_ONNX_${string}`, boolean>;

export type OnnxErrorCode = keyof typeof ONNX_ERROR_RETRYABLE;

/** An ONNX rewrite or an ONNX Runtime run failed. `details.path` names the file where there is one. */
export class OnnxError extends MsbError {
  declare readonly code: OnnxErrorCode;

  constructor(code: OnnxErrorCode, message: string, details: Record<string, unknown> = {}, options?: MsbErrorOptions) {
    super(code, message, details, { retryable: ONNX_ERROR_RETRYABLE[code], ...options });
  }
}
