/** Options of every msb error. */
export interface MsbErrorOptions {
  cause?: unknown;
  /**
   * Whether the same operation, run again unchanged, may succeed. Each module's error class defaults it from its
   * code (a table in its errors.ts, checked by the compiler to classify every code); a throw site that knows better
   * passes it. The job worker fails a job at once when its error is not retryable (src/jobs/worker.ts).
   */
  retryable?: boolean;
}

/**
 * Base class of every error msb throws on purpose. `code` is stable (callers and tests switch on it); `message`
 * is for people and may change. `details` carries the context a caller needs to act (a path, a field, a value).
 * `retryable` says whether trying again unchanged can help (a lock another writer holds, a service that is down)
 * or cannot (bad input, a missing file): false unless the error's class or its throw site says otherwise.
 */
export class MsbError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly retryable: boolean;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, options: MsbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = details;
    this.retryable = options.retryable ?? false;
  }
}

/** True when `err` is an MsbError, optionally with the given code. */
export function isMsbError(err: unknown, code?: string): err is MsbError {
  return err instanceof MsbError && (code === undefined || err.code === code);
}
