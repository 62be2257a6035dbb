/**
 * `msb serve`: the HTTP API v1 (artifacts, jobs with Server-Sent Events, workers, queues, models, correlation IDs),
 * the dashboard and Bull Board, over the jobs module, the store and the correlation-ID service.
 */
export {
  type ArtifactStore,
  artifactId,
  DirectoryArtifactStore,
  openArtifactStore,
  type PutOptions,
  parseArtifactId,
  type StoredArtifact,
} from './artifacts.js';
export { type ApiServerOptions, CSRF_HEADER, SESSION_COOKIE } from './context.js';
export { API_ERROR_RETRYABLE, ApiError, type ApiErrorCode, httpStatus, type Problem, problem } from './errors.js';
export { checkBind, createApiServer, type RunningApiServer, startApiServer } from './server.js';
export {
  addToken,
  allows,
  listTokens,
  type Principal,
  parseScopes,
  removeToken,
  SCOPES,
  type Scope,
  type TokenEntry,
  TokenVerifier,
} from './tokens.js';
