import { defineErrors, retryableOf } from '../errors.js';

/**
 * A request to Triton's repository API failed or was refused. How Triton's answers map to the codes is in client.ts
 * (`classify`).
 */
export class TritonError extends defineErrors('MSB_TRITON_', {
  /** The Triton base URL is not an http:// or https:// URL msb can use. */
  MSB_TRITON_URL: { retryable: false },
  /** No connection (refused, reset, name not resolved): Triton may still be starting or restarting. */
  MSB_TRITON_UNREACHABLE: { retryable: true },
  /** An attempt got no answer within its timeout: a long load may still finish, and reloading is then a no-op. */
  MSB_TRITON_TIMEOUT: { retryable: true },
  /** HTTP 503 (or 408/429 from a proxy in front): Triton or the path to it is busy or not ready yet. */
  MSB_TRITON_UNAVAILABLE: { retryable: true },
  /**
   * HTTP 5xx other than 503: for a load, Triton's "failed to poll from model repository" (500) when the model
   * directory is not (yet) visible, e.g. an object store listing that has not caught up; or a proxy's 502/504.
   */
  MSB_TRITON_SERVER: { retryable: true },
  /** A client option out of range (attempts, backoff, timeout). */
  MSB_TRITON_OPTIONS: { retryable: false },
  /** Triton refuses repository control because it is not in `--model-control-mode=explicit` (it polls instead). */
  MSB_TRITON_NOT_EXPLICIT: { retryable: false },
  /** HTTP 400 to a load: Triton tried the model and its backend refused it (config, plan, memory). */
  MSB_TRITON_LOAD_FAILED: { retryable: false },
  /** Another 4xx or 501: a restricted API without its header (403), an unknown endpoint, an invalid name. */
  MSB_TRITON_REFUSED: { retryable: false },
  /** An answer outside the documented protocol (a 200 index that is not a JSON array, say). */
  MSB_TRITON_PROTOCOL: { retryable: false },
  /** The caller aborted (a worker shutting down, a cancelled job). */
  MSB_TRITON_ABORTED: { retryable: false },
}) {}

export type TritonErrorCode = keyof typeof TritonError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `TritonError.codes`). */
export const TRITON_ERROR_RETRYABLE = retryableOf(TritonError.codes);
