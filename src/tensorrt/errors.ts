import { defineErrors, retryableOf } from '../errors.js';

/**
 * A TensorRT build failed or was refused. A retried job may run on another worker, so what is wrong with this
 * machine's installation is retryable and what is wrong with the model or the options is not. A code the addon
 * sends that this table does not know (a newer addon: fromNative casts the C++ side's string) is not retryable.
 */
export class TensorrtError extends defineErrors('MSB_TENSORRT_', {
  /** TensorRT (or the addon, or a GPU driver) is not there; `details.reason` says which. */
  MSB_TENSORRT_UNAVAILABLE: { retryable: true },
  /** The libraries loaded are another major version than the headers the addon was compiled against. */
  MSB_TENSORRT_VERSION_MISMATCH: { retryable: true },
  /** An option is malformed, inconsistent, or not honoured by this TensorRT major version. */
  MSB_TENSORRT_INVALID_ARGUMENT: { retryable: false },
  /** TensorRT's ONNX parser refused the model; `details.parserErrors` lists node, op and description. */
  MSB_TENSORRT_ONNX_PARSE: { retryable: false },
  /** The caller's AbortSignal fired (the worker tells cancel, timeout and shutdown apart itself). */
  MSB_TENSORRT_CANCELLED: { retryable: false },
  /** TensorRT could not build an engine; the message carries TensorRT's last error (often GPU memory: retryable). */
  MSB_TENSORRT_BUILD_FAILED: { retryable: true },
}) {}

/** Stable codes of {@link TensorrtError}. */
export type TensorrtErrorCode = keyof typeof TensorrtError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `TensorrtError.codes`). */
export const TENSORRT_ERROR_RETRYABLE = retryableOf(TensorrtError.codes);
