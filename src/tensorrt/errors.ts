import { MsbError } from '../errors.js';

/** Stable codes of {@link TensorrtError}. */
export type TensorrtErrorCode =
  /** TensorRT (or the addon, or a GPU driver) is not there; `details.reason` says which. */
  | 'MSB_TENSORRT_UNAVAILABLE'
  /** The libraries loaded are another major version than the headers the addon was compiled against. */
  | 'MSB_TENSORRT_VERSION_MISMATCH'
  /** An option is malformed, inconsistent, or not honoured by this TensorRT major version. */
  | 'MSB_TENSORRT_INVALID_ARGUMENT'
  /** TensorRT's ONNX parser refused the model; `details.parserErrors` lists node, op and description. */
  | 'MSB_TENSORRT_ONNX_PARSE'
  /** The caller's AbortSignal fired. */
  | 'MSB_TENSORRT_CANCELLED'
  /** TensorRT could not build an engine; the message carries TensorRT's last error. */
  | 'MSB_TENSORRT_BUILD_FAILED';

export class TensorrtError extends MsbError {
  declare readonly code: TensorrtErrorCode;

  constructor(
    code: TensorrtErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
  }
}
