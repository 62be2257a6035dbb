import { defineErrors, retryableOf } from '../errors.js';

export { TEXTFORMAT_ERROR_RETRYABLE, TextFormatError, type TextFormatErrorCode } from './textformat/errors.js';

/**
 * Config generation was refused: a contradiction between the user's config and the model, or an impossible ask.
 * No code is retryable: the model and the options say the same thing every time.
 */
export class ConfigGenerateError extends defineErrors('MSB_CONFIG_', {
  /** An option out of range or of the wrong kind. */
  MSB_CONFIG_BAD_OPTION: { retryable: false },
  /** The user's (partial) config contradicts the model. */
  MSB_CONFIG_CONFLICT: { retryable: false },
  /** The config generated does not pass validation; the message names each problem. */
  MSB_CONFIG_GENERATED_INVALID: { retryable: false },
  /** Batching asked for a model without a batch dimension. */
  MSB_CONFIG_NOT_BATCHABLE: { retryable: false },
  /** Labels given for a model with no output. */
  MSB_CONFIG_NO_OUTPUT: { retryable: false },
}) {}

export type ConfigErrorCode = keyof typeof ConfigGenerateError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `ConfigGenerateError.codes`). */
export const CONFIG_ERROR_RETRYABLE = retryableOf(ConfigGenerateError.codes);
