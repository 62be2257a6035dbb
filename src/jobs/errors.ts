import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of {@link JobError}, each with whether retrying can help (the compiler checks every code is
 * classified).
 */
export const JOB_ERROR_RETRYABLE = {
  /** The job spec does not parse or is inconsistent. */
  MSB_JOB_INVALID_SPEC: false,
  /** The job's source file cannot be read. */
  MSB_JOB_SOURCE: false,
  /** The source changed since the job was enqueued: the job would publish something else than was asked. */
  MSB_JOB_SOURCE_CHANGED: false,
  /** The model the job publishes to is served by another platform or backend than the job's output. */
  MSB_JOB_MODEL_MISMATCH: false,
  /** (client) No job of that id. */
  MSB_JOB_NOT_FOUND: false,
  /** (client) The job failed; the message carries the worker's reason. */
  MSB_JOB_FAILED: false,
  /** (client) A cancel of a job that already finished. */
  MSB_JOB_FINISHED: false,
  /** (client) A retry of a job that has not failed. */
  MSB_JOB_NOT_FAILED: false,
  /** (client) `--wait --timeout` ran out before the job finished; the job itself goes on. */
  MSB_JOB_WAIT_TIMEOUT: true,
  /** The private redis-server of the demo or the tests did not start. */
  MSB_REDIS_START: true,
} as const satisfies Record<string, boolean>;

export type JobErrorCode = keyof typeof JOB_ERROR_RETRYABLE;

/** A conversion job, or a request about one, was refused or failed. */
export class JobError extends MsbError {
  declare readonly code: JobErrorCode;

  constructor(code: JobErrorCode, message: string, details: Record<string, unknown> = {}, options?: MsbErrorOptions) {
    super(code, message, details, { retryable: JOB_ERROR_RETRYABLE[code], ...options });
  }
}
