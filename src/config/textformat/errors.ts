import { MsbError } from '../../errors.js';

/**
 * Stable codes of {@link TextFormatError}, each with whether retrying can help (none: the text is what it is).
 */
export const TEXTFORMAT_ERROR_RETRYABLE = {
  /** Tokens out of place, a bad literal, an unterminated string. */
  MSB_TEXTFORMAT_SYNTAX: false,
  MSB_TEXTFORMAT_UNKNOWN_FIELD: false,
  /** A value of the wrong type or out of range. */
  MSB_TEXTFORMAT_TYPE: false,
  /** No such enum value. */
  MSB_TEXTFORMAT_ENUM: false,
  /** A non-repeated field or oneof member given twice. */
  MSB_TEXTFORMAT_DUPLICATE: false,
} as const satisfies Record<`MSB_TEXTFORMAT_${string}`, boolean>;

export type TextFormatErrorCode = keyof typeof TEXTFORMAT_ERROR_RETRYABLE;

/**
 * A config that is not valid protobuf text format for its schema, or an object that does not fit the schema.
 * Codes: `MSB_TEXTFORMAT_SYNTAX` (tokens out of place, bad literal, unterminated string),
 * `MSB_TEXTFORMAT_UNKNOWN_FIELD`, `MSB_TEXTFORMAT_TYPE` (value of the wrong type or out of range),
 * `MSB_TEXTFORMAT_ENUM` (no such enum value), `MSB_TEXTFORMAT_DUPLICATE` (non-repeated field or oneof member given
 * twice). `line`/`column` are 1-based (0 when the error is about an object, not text); `path` names the field, e.g.
 * `input[1].dims[0]`.
 */
export class TextFormatError extends MsbError {
  declare readonly code: TextFormatErrorCode;
  readonly line: number;
  readonly column: number;
  readonly path: string;
  readonly source: string | undefined;

  constructor(
    code: TextFormatErrorCode,
    message: string,
    where: { line: number; column: number; path: string; source?: string | undefined },
  ) {
    const at = where.line > 0 ? `${where.line}:${where.column}: ` : '';
    const field = where.path ? ` (at ${where.path})` : '';
    super(
      code,
      `${where.source ? `${where.source}:` : ''}${at}${message}${field}`,
      { ...where },
      { retryable: TEXTFORMAT_ERROR_RETRYABLE[code] },
    );
    this.line = where.line;
    this.column = where.column;
    this.path = where.path;
    this.source = where.source;
  }
}
