import { CidError } from './errors.js';

/** Longest model name accepted: Triton's repository holds one directory per model, and path components cap at 255 bytes. */
export const MAX_MODEL_NAME_BYTES = 255;

/**
 * A model name is the name of its directory in the Triton repository, so the same rules as the store's apply:
 * non-empty, not `.`/`..`, no leading dot, no `/` or `\`, no control characters, at most
 * {@link MAX_MODEL_NAME_BYTES} bytes of UTF-8. Checked before any Redis key is built from it.
 */
export function checkModelName(model: unknown): string {
  const fail = (why: string): never => {
    throw new CidError('MSB_CID_MODEL_NAME', `invalid model name ${JSON.stringify(model)}: ${why}`, { model });
  };
  if (typeof model !== 'string' || model.length === 0) return fail('it is empty');
  if (model === '.' || model === '..') return fail('it names a directory link');
  if (model.startsWith('.')) return fail('it starts with a dot');
  if (/[/\\]/.test(model)) return fail('it contains a path separator');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused here
  if (/[\u0000-\u001f\u007f]/.test(model)) return fail('it contains a control character');
  if (Buffer.byteLength(model, 'utf8') > MAX_MODEL_NAME_BYTES) {
    return fail(`it is longer than ${MAX_MODEL_NAME_BYTES} bytes`);
  }
  return model;
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
export function checkMillis(code: string, name: string, value: unknown, min = 1): number {
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
