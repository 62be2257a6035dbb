/**
 * The model store: a Triton model repository on a local directory (behind `RepositoryStorage`, so object stores can
 * follow), written so that a polling Triton never sees a partial model, version or config, by several processes at
 * once, surviving kill -9 at any step.
 */

export { type AddModelOptions, type AddModelResult, addModel } from './add.js';
export { STORE_ERROR_RETRYABLE, StoreError, type StoreErrorCode } from './errors.js';
export type { Transfer } from './fsutil.js';
export type { LockOptions } from './lock.js';
export type { AddVersionOptions, ModelInfo, VersionRecord } from './model.js';
export { renderConfig, StoredModel } from './model.js';
export { checkName, MAX_NAME_BYTES, nameProblem, tritonVersionOf } from './names.js';
export { isDirectoryModel, modelFileName } from './platforms.js';
export { type PublishableSource, publishableSource } from './publishable.js';
export type { RepositoryStorage, StagedTree, StagingArea, StorageEntry } from './storage.js';
export { LocalStorage } from './storage.js';
export type { CreateModelOptions, OpenOptions } from './store.js';
export { ModelStore, publishVersion, VERSION_RECORD } from './store.js';
export type { RepositoryProblem } from './validate.js';
