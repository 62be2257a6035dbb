/**
 * Base class of every error msb throws on purpose. `code` is stable (callers and tests switch on it); `message`
 * is for people and may change. `details` carries the context a caller needs to act (a path, a field, a value).
 */
export class MsbError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is an MsbError, optionally with the given code. */
export function isMsbError(err: unknown, code?: string): err is MsbError {
  return err instanceof MsbError && (code === undefined || err.code === code);
}
