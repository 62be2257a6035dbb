import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of {@link TritonError}, each with whether retrying can help (the compiler checks every code is
 * classified). How Triton's answers map to them is in client.ts (`classify`).
 */
export const TRITON_ERROR_RETRYABLE = {
  /** The Triton base URL is not an http:// or https:// URL msb can use. */
  MSB_TRITON_URL: false,
  /** No connection (refused, reset, name not resolved): Triton may still be starting or restarting. */
  MSB_TRITON_UNREACHABLE: true,
  /** An attempt got no answer within its timeout: a long load may still finish, and reloading is then a no-op. */
  MSB_TRITON_TIMEOUT: true,
  /** HTTP 503 (or 408/429 from a proxy in front): Triton or the path to it is busy or not ready yet. */
  MSB_TRITON_UNAVAILABLE: true,
  /**
   * HTTP 5xx other than 503: for a load, Triton's "failed to poll from model repository" (500) when the model
   * directory is not (yet) visible, e.g. an object store listing that has not caught up; or a proxy's 502/504.
   */
  MSB_TRITON_SERVER: true,
  /** A client option out of range (attempts, backoff, timeout). */
  MSB_TRITON_OPTIONS: false,
  /** Triton refuses repository control because it is not in `--model-control-mode=explicit` (it polls instead). */
  MSB_TRITON_NOT_EXPLICIT: false,
  /** HTTP 400 to a load: Triton tried the model and its backend refused it (config, plan, memory). */
  MSB_TRITON_LOAD_FAILED: false,
  /** Another 4xx or 501: a restricted API without its header (403), an unknown endpoint, an invalid name. */
  MSB_TRITON_REFUSED: false,
  /** An answer outside the documented protocol (a 200 index that is not a JSON array, say). */
  MSB_TRITON_PROTOCOL: false,
  /** The caller aborted (a worker shutting down, a cancelled job). */
  MSB_TRITON_ABORTED: false,
} as const satisfies Record<`MSB_TRITON_${string}`, boolean>;

export type TritonErrorCode = keyof typeof TRITON_ERROR_RETRYABLE;

/** A request to Triton's repository API failed or was refused. */
export class TritonError extends MsbError {
  declare readonly code: TritonErrorCode;

  constructor(
    code: TritonErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: MsbErrorOptions,
  ) {
    super(code, message, details, { retryable: TRITON_ERROR_RETRYABLE[code], ...options });
  }
}
