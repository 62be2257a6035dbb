/** Options of every msb error. */
export interface MsbErrorOptions {
  cause?: unknown;
  /**
   * Whether the same operation, run again unchanged, may succeed. Each module's error class defaults it from its
   * code (the table given to {@link defineErrors}); a throw site that knows better passes it. The job worker fails a
   * job at once when its error is not retryable (src/jobs/worker.ts).
   */
  retryable?: boolean;
}

/**
 * Base class of every error msb throws on purpose. `code` is stable (callers and tests switch on it); `message`
 * is for people and may change. `details` carries the context a caller needs to act (a path, a field, a value).
 * `retryable` says whether trying again unchanged can help (a lock another writer holds, a service that is down)
 * or cannot (bad input, a missing file): false unless the error's class or its throw site says otherwise.
 * `status` is the HTTP status the API answers it with ({@link errorStatus} of the code).
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

  /** The HTTP status of this error's code: a getter, so it is not an own field that JSON or a spread would copy. */
  get status(): number {
    return errorStatus(this.code);
  }
}

/** True when `err` is an MsbError, optionally with the given code. */
export function isMsbError(err: unknown, code?: string): err is MsbError {
  return err instanceof MsbError && (code === undefined || err.code === code);
}

/** What a module says about one of its codes. */
export interface ErrorSpec {
  /** Whether the same operation, run again unchanged, may succeed (the class's default for `retryable`). */
  readonly retryable: boolean;
  /**
   * The HTTP status the API answers with. Left out: 503 when retryable (a server-side condition that passes: the
   * client should come back), 500 when not (a failure that is not the client's doing).
   */
  readonly status?: number;
}

/** A module's codes: each one starts with the module's prefix and says whether retrying helps. */
export type ErrorTable<P extends string> = Readonly<Record<`${P}${string}`, ErrorSpec>>;

/** The class {@link defineErrors} returns: MsbError narrowed to the module's codes, with its table. */
export interface DefinedErrorClass<C extends string> {
  new (
    code: C,
    message: string,
    details?: Record<string, unknown>,
    options?: MsbErrorOptions,
  ): MsbError & {
    readonly code: C;
  };
  /** The module's table, code → {retryable, status}. */
  readonly codes: Readonly<Record<C, ErrorSpec>>;
}

/** Every code defined so far, so the status of a code is known wherever its module is loaded. */
const defined = new Map<string, ErrorSpec>();

/**
 * Defines a module's errors once: the table of its codes (each with `retryable` and, where it is not the default,
 * `status`) and the class that throws them. Use as `export class StoreError extends defineErrors('MSB_STORE_',
 * {...}) {}` so the class keeps its own name. A code defined twice with different specs (two modules claiming
 * it) is refused when the second module loads.
 */
export function defineErrors<const P extends string, const T extends ErrorTable<P>>(
  prefix: P,
  table: T,
): DefinedErrorClass<keyof T & string> {
  for (const [code, spec] of Object.entries(table) as [string, ErrorSpec][]) {
    if (!code.startsWith(prefix)) throw new Error(`error code ${code} does not start with ${prefix}`);
    // The same table evaluated again (a module loaded twice, e.g. after a test runner resets its cache) is the
    // same definition; two different ones of one code are two modules claiming it.
    const earlier = defined.get(code);
    if (earlier && (earlier.retryable !== spec.retryable || earlier.status !== spec.status))
      throw new Error(`error code ${code} is defined twice, differently`);
    defined.set(code, spec);
  }
  const codes: Readonly<Record<string, ErrorSpec>> = table;
  return class extends MsbError {
    static readonly codes = table;
    constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: MsbErrorOptions) {
      // `?? false`: a code this table does not know (the TensorRT addon's codes arrive as strings from C++).
      super(code, message, details, { retryable: codes[code]?.retryable ?? false, ...options });
    }
  } as unknown as DefinedErrorClass<keyof T & string>;
}

/**
 * The HTTP status of an msb error code, from the table that defines it: its `status`, else 503 for a retryable code
 * and 500 for the rest, and for a code no loaded module defines.
 */
export function errorStatus(code: string): number {
  const spec = defined.get(code);
  if (!spec) return 500;
  return spec.status ?? (spec.retryable ? 503 : 500);
}

/** `{ CODE: retryable }` of a table: the shape the `*_ERROR_RETRYABLE` exports have had since 0.1. */
export function retryableOf<C extends string>(codes: Readonly<Record<C, ErrorSpec>>): Readonly<Record<C, boolean>> {
  return Object.fromEntries(Object.entries<ErrorSpec>(codes).map(([code, spec]) => [code, spec.retryable])) as Record<
    C,
    boolean
  >;
}
