export {
  type AcquireOptions,
  CorrelationIds,
  type CorrelationIdsOptions,
  type IdKind,
  type IdOf,
  type Lease,
  type LeaseInfo,
  type LeaseRef,
  type SequenceContext,
  type SequenceOptions,
} from './client.js';
export { CID_ERROR_RETRYABLE, CidError, type CidErrorCode } from './errors.js';
export {
  type AddManagerOptions,
  type AddManagerResult,
  addManagerModel,
  corridKind,
  MANAGER_MODEL_FILE,
  type ManagerModelOptions,
  managerModelConfig,
} from './manager.js';
export { checkModelName, defaultRedisUrl, MAX_MODEL_NAME_BYTES, MAX_UINT64, parseId } from './names.js';
