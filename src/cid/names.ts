import { MAX_NAME_BYTES, nameProblem } from '../store/names.js';
import { CidError, type CidErrorCode } from './errors.js';

/** Longest model name accepted: the store's (one directory per model; path components cap at 255 bytes). */
export const MAX_MODEL_NAME_BYTES = MAX_NAME_BYTES;

/**
 * A model name is the name of its directory in the Triton repository, so the store's rule applies
 * (`nameProblem`). Checked before any Redis key is built from it.
 */
export function checkModelName(model: unknown): string {
  const why = nameProblem(model);
  if (why !== undefined) {
    throw new CidError('MSB_CID_MODEL_NAME', `invalid model name ${JSON.stringify(model)}: ${why}`, { model });
  }
  return model as string;
}

/** Largest uint64, the top of Triton's correlation-ID range. */
export const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;

/** Parses an ID given as text (CLI, JSON): a decimal integer in 1..2^64-1, no sign, no leading zero. */
export function parseId(text: string): bigint {
  if (!/^[1-9]\d*$/.test(text) || BigInt(text) > MAX_UINT64) {
    throw new CidError(
      'MSB_CID_ID',
      `invalid correlation ID ${JSON.stringify(text)}: a decimal integer in 1..2^64-1 is needed`,
      {
        id: text,
      },
    );
  }
  return BigInt(text);
}

/** Checks a millisecond duration option: a positive safe integer (`min` 0 allows zero). */
export function checkMillis(code: CidErrorCode, name: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new CidError(
      code,
      `invalid ${name} ${String(value)}: an integer number of milliseconds >= ${min} is needed`,
      {
        [name]: value,
      },
    );
  }
  return value;
}

/** `REDIS_URL`, else a local Redis on the default port (src/redis/url.ts: the CLI reads it without ioredis). */
export { defaultRedisUrl } from '../redis/url.js';
