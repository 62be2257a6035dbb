import { defineErrors, retryableOf } from '../../errors.js';

const TextFormatBase = defineErrors('MSB_TEXTFORMAT_', {
  /** Tokens out of place, a bad literal, an unterminated string. */
  MSB_TEXTFORMAT_SYNTAX: { retryable: false },
  MSB_TEXTFORMAT_UNKNOWN_FIELD: { retryable: false },
  /** A value of the wrong type or out of range. */
  MSB_TEXTFORMAT_TYPE: { retryable: false },
  /** No such enum value. */
  MSB_TEXTFORMAT_ENUM: { retryable: false },
  /** A non-repeated field or oneof member given twice. */
  MSB_TEXTFORMAT_DUPLICATE: { retryable: false },
});

export type TextFormatErrorCode = keyof typeof TextFormatBase.codes;

/** Code → whether retrying can help (none: the text is what it is). */
export const TEXTFORMAT_ERROR_RETRYABLE = retryableOf(TextFormatBase.codes);

/**
 * A config that is not valid protobuf text format for its schema, or an object that does not fit the schema.
 * `line`/`column` are 1-based (0 when the error is about an object, not text); `path` names the field, e.g.
 * `input[1].dims[0]`.
 */
export class TextFormatError extends TextFormatBase {
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
    super(code, `${where.source ? `${where.source}:` : ''}${at}${message}${field}`, { ...where });
    this.line = where.line;
    this.column = where.column;
    this.path = where.path;
    this.source = where.source;
  }
}
