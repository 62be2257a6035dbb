/**
 * The model store: a Triton model repository on a local directory or an object store (behind `RepositoryStorage`),
 * written so that a polling Triton never sees a partial model, version or config, by several processes at once,
 * surviving kill -9 at any step.
 */

export { STORE_ERROR_RETRYABLE, StoreError, type StoreErrorCode } from './errors.js';
export { LocalStorage } from './local-storage.js';
export type { AddVersionOptions, EditOptions, ModelInfo, VersionRecord } from './model.js';
export { renderConfig, StoredModel } from './model.js';
export { checkName, MAX_NAME_BYTES, nameProblem, tritonVersionOf } from './names.js';
export type { ObjectClient, ObjectMeta } from './object-client.js';
export { type LeaseProvider, ObjectStorage, type ObjectStorageOptions } from './object-storage.js';
export { isDirectoryModel, modelFileName } from './platforms.js';
export { type PutVersionRequest, type PutVersionResult, putVersion } from './publish.js';
export { inspectObject } from './remote.js';
export { s3ClientConfig } from './s3-client.js';
export { storageByteSource, storedSignature } from './signature.js';
export { resolveSource } from './sources.js';
export type {
  ByteRange,
  CommitPhase,
  LockHandle,
  LockOptions,
  ModelSource,
  PlacedFiles,
  RepositoryStorage,
  SourceFile,
  StagedTree,
  StagingArea,
  StorageEntry,
  Transfer,
  WriteCondition,
  WrittenFile,
} from './storage.js';
export { COMMIT_ORDER } from './storage.js';
export type { CreateModelOptions, OpenOptions, StoreSettings } from './store.js';
export { ModelStore, openStorage, STORE_SETTINGS, VERSION_RECORD } from './store.js';
export { type ModelSummary, problems, summary } from './summary.js';
export { OBJECT_NAME, parseStoreUri, type StoreLocation, tritonCredential } from './uri.js';
export { modelProblems, type RepositoryProblem, type ValidateOptions } from './validate.js';
