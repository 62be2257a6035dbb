/**
 * Triton's model repository API (explicit model control): load, unload and index, with retries and typed errors.
 * The conversion worker uses it to tell Triton to load a model after publishing it (`tritonLoad`, off by default).
 */
export {
  parseTritonUrl,
  type RepositoryIndexEntry,
  type TritonCallOptions,
  type TritonCallResult,
  type TritonLoadReport,
  TritonRepositoryClient,
  type TritonRepositoryOptions,
  type TritonRetry,
} from './client.js';
export { TRITON_ERROR_RETRYABLE, TritonError, type TritonErrorCode } from './errors.js';
