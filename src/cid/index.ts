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
export { CidError } from './errors.js';
export { checkModelName, defaultRedisUrl, MAX_MODEL_NAME_BYTES, MAX_UINT64, parseId } from './names.js';
