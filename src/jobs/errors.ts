import { defineErrors, retryableOf } from '../errors.js';

/** A conversion job, or a request about one, was refused or failed. */
export class JobError extends defineErrors('MSB_JOB_', {
  /** The job spec does not parse or is inconsistent. */
  MSB_JOB_INVALID_SPEC: { retryable: false, status: 400 },
  /** The job's source file cannot be read. */
  MSB_JOB_SOURCE: { retryable: false, status: 422 },
  /** The source changed since the job was enqueued: the job would publish something else than was asked. */
  MSB_JOB_SOURCE_CHANGED: { retryable: false, status: 422 },
  /** The model the job publishes to is served by another platform or backend than the job's output. */
  MSB_JOB_MODEL_MISMATCH: { retryable: false },
  /** (client) No job of that id. */
  MSB_JOB_NOT_FOUND: { retryable: false, status: 404 },
  /** (client) The job failed; the message carries the worker's reason. */
  MSB_JOB_FAILED: { retryable: false },
  /** (client) A cancel of a job that already finished. */
  MSB_JOB_FINISHED: { retryable: false, status: 409 },
  /** (client) A retry of a job that has not failed. */
  MSB_JOB_NOT_FAILED: { retryable: false, status: 409 },
  /** (client) `--wait --timeout` ran out before the job finished; the job itself goes on. */
  MSB_JOB_WAIT_TIMEOUT: { retryable: true },
}) {}

export type JobErrorCode = keyof typeof JobError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `JobError.codes`). */
export const JOB_ERROR_RETRYABLE = retryableOf(JobError.codes);
