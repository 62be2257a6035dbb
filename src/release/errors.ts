import { defineErrors, retryableOf } from '../errors.js';

/** A Triton release named, or a check against one, that msb cannot use or that fails. */
export class ReleaseError extends defineErrors('MSB_RELEASE_', {
  /** A release name the table does not hold (the message lists the known ones). */
  MSB_RELEASE_UNKNOWN: { retryable: false, status: 400 },
  /** `--gpus` is not a comma-separated list of compute capabilities such as 8.0,8.6. */
  MSB_RELEASE_BAD_GPUS: { retryable: false, status: 400 },
  /** A model file Triton at that release (or a GPU of the fleet) cannot load: a publish refused without force. */
  MSB_RELEASE_INCOMPATIBLE: { retryable: false, status: 422 },
  /** A job target names a release whose TensorRT version no source gives, so no queue can be chosen. */
  MSB_RELEASE_TENSORRT_UNKNOWN: { retryable: false, status: 400 },
  /** A build job's TensorRT target is not the TensorRT of the release the worker (or server) checks against. */
  MSB_RELEASE_TARGET_MISMATCH: { retryable: false, status: 400 },
}) {}

export type ReleaseErrorCode = keyof typeof ReleaseError.codes;

/** Code → whether retrying can help (every module's errors.ts exports one; test/errors.test.ts reads them). */
export const RELEASE_ERROR_RETRYABLE = retryableOf(ReleaseError.codes);
