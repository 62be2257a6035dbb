import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of {@link TensorrtError}, each with whether retrying can help (the compiler checks every code is
 * classified). A retried job may run on another worker, so what is wrong with this machine's installation is
 * retryable and what is wrong with the model or the options is not.
 */
export const TENSORRT_ERROR_RETRYABLE = {
  /** TensorRT (or the addon, or a GPU driver) is not there; `details.reason` says which. */
  MSB_TENSORRT_UNAVAILABLE: true,
  /** The libraries loaded are another major version than the headers the addon was compiled against. */
  MSB_TENSORRT_VERSION_MISMATCH: true,
  /** An option is malformed, inconsistent, or not honoured by this TensorRT major version. */
  MSB_TENSORRT_INVALID_ARGUMENT: false,
  /** TensorRT's ONNX parser refused the model; `details.parserErrors` lists node, op and description. */
  MSB_TENSORRT_ONNX_PARSE: false,
  /** The caller's AbortSignal fired (the worker tells cancel, timeout and shutdown apart itself). */
  MSB_TENSORRT_CANCELLED: false,
  /** TensorRT could not build an engine; the message carries TensorRT's last error (often GPU memory: retryable). */
  MSB_TENSORRT_BUILD_FAILED: true,
} as const satisfies Record<`MSB_TENSORRT_${string}`, boolean>;

/** Stable codes of {@link TensorrtError}. */
export type TensorrtErrorCode = keyof typeof TENSORRT_ERROR_RETRYABLE;

export class TensorrtError extends MsbError {
  declare readonly code: TensorrtErrorCode;

  constructor(
    code: TensorrtErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: MsbErrorOptions,
  ) {
    // `?? false`: a code from a newer addon than this table knows (fromNative casts the C++ side's string).
    super(code, message, details, { retryable: TENSORRT_ERROR_RETRYABLE[code] ?? false, ...options });
  }
}
