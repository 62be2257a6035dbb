export {
  type AcquireOptions,
  CorrelationIds,
  type CorrelationIdsOptions,
  defaultRedisUrl,
  type IdKind,
  type IdOf,
  type Lease,
  type LeaseInfo,
  type LeaseRef,
  type SequenceContext,
  type SequenceOptions,
} from './client.js';
export { CidError } from './errors.js';
export { checkModelName, MAX_MODEL_NAME_BYTES, MAX_UINT64, parseId } from './names.js';
