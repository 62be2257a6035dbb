import { StoreError } from './errors.js';

/** Longest model or file name msb accepts: most filesystems cap a path component at 255 bytes. */
export const MAX_NAME_BYTES = 255;

/**
 * Checks a single path component (model name, file name, label file name) before any filesystem call uses it.
 * Refused: empty, `.`/`..`, a leading dot (Triton loads every subdirectory of the repository root as a model, dot
 * directories included, and hidden files are where msb keeps its own records), path separators, control characters,
 * and names longer than {@link MAX_NAME_BYTES} bytes of UTF-8.
 */
export function checkName(kind: string, name: unknown): string {
  const why = nameProblem(name);
  if (why !== undefined) {
    throw new StoreError('MSB_STORE_INVALID_NAME', `invalid ${kind} name ${JSON.stringify(name)}: ${why}`, {
      kind,
      name,
    });
  }
  return name as string;
}

/**
 * Why `name` cannot be a directory name in the repository, or undefined when it can. The one rule for model names
 * wherever they come from (store, jobs, correlation IDs).
 */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'it is empty';
  if (name === '.' || name === '..') return 'it names a directory link';
  if (name.startsWith('.')) return 'it starts with a dot';
  if (/[/\\]/.test(name)) return 'it contains a path separator';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused here
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'it contains a control character';
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return `it is longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

/** A version number msb creates: a positive integer Triton reads back unchanged (no sign, no leading zero). */
export function checkVersion(version: unknown): number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new StoreError('MSB_STORE_INVALID_NAME', `invalid version ${String(version)}: a positive integer is needed`, {
      version,
    });
  }
  return version;
}

/**
 * How Triton reads a version directory name (core `model_lifecycle.cc`, `VersionsToLoad`): `warmup`,
 * `initial_state` and `configs` are never versions; a name of more than one character starting with `0` is ignored
 * ("leading zeros"); otherwise `std::stoll` parses it, which skips leading whitespace, takes an optional sign and
 * the longest digit prefix ("12abc" is version 12) and throws (ignored with a warning) when no digit follows (out of int64 range it throws out_of_range, which Triton does not catch). Backends then open `<model>/<std::to_string(version)>`.
 */
export function tritonVersionOf(
  dirName: string,
):
  | { kind: 'version'; version: bigint; exact: boolean }
  | { kind: 'reserved' | 'leading-zero' | 'not-numeric' | 'out-of-range' } {
  if (dirName === 'warmup' || dirName === 'initial_state' || dirName === 'configs') return { kind: 'reserved' };
  if (dirName.length > 1 && dirName.startsWith('0')) return { kind: 'leading-zero' };
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(dirName);
  if (!m?.[1]) return { kind: 'not-numeric' };
  // Beyond int64 stoll throws std::out_of_range, which VersionsToLoad does not catch (only invalid_argument).
  const v = BigInt(m[1]);
  if (v > 0x7fffffffffffffffn || v < -0x8000000000000000n) return { kind: 'out-of-range' };
  return { kind: 'version', version: v, exact: m[0] === dirName && /^\d+$/.test(dirName) };
}
