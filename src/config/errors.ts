import { MsbError, type MsbErrorOptions } from '../errors.js';

export { TEXTFORMAT_ERROR_RETRYABLE, TextFormatError, type TextFormatErrorCode } from './textformat/errors.js';

/**
 * Stable codes of {@link ConfigGenerateError}, each with whether retrying can help (none: the model and the options
 * say the same thing every time).
 */
export const CONFIG_ERROR_RETRYABLE = {
  /** An option out of range or of the wrong kind. */
  MSB_CONFIG_BAD_OPTION: false,
  /** The user's (partial) config contradicts the model. */
  MSB_CONFIG_CONFLICT: false,
  /** The config generated does not pass validation; the message names each problem. */
  MSB_CONFIG_GENERATED_INVALID: false,
  /** Batching asked for a model without a batch dimension. */
  MSB_CONFIG_NOT_BATCHABLE: false,
  /** Labels given for a model with no output. */
  MSB_CONFIG_NO_OUTPUT: false,
} as const satisfies Record<`MSB_CONFIG_${string}`, boolean>;

export type ConfigErrorCode = keyof typeof CONFIG_ERROR_RETRYABLE;

/** Config generation was refused: a contradiction between the user's config and the model, or an impossible ask. */
export class ConfigGenerateError extends MsbError {
  declare readonly code: ConfigErrorCode;

  constructor(
    code: ConfigErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: MsbErrorOptions,
  ) {
    super(code, message, details, { retryable: CONFIG_ERROR_RETRYABLE[code], ...options });
  }
}
