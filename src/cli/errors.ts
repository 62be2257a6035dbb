import { defineErrors, retryableOf } from '../errors.js';

/**
 * A command line msb cannot run: the CLI's own codes (the library's errors keep theirs). They end the process with
 * `msb: CODE: message` and exit 2; none ends a job, and none is retryable (the same command line fails the same way).
 */
export class CliError extends defineErrors('MSB_CLI_', {
  /** Options or arguments that do not fit together (a missing operand, an option without the one it needs). */
  MSB_CLI_USAGE: { retryable: false, status: 400 },
  /** An option value of the wrong form (a number out of range, a malformed NAME=VALUE). */
  MSB_CLI_ARGUMENT: { retryable: false, status: 400 },
  /** A file named on the command line cannot be read. */
  MSB_CLI_READ: { retryable: false },
  /** A path named on the command line is a directory, device or FIFO where a file was expected. */
  MSB_CLI_NOT_A_FILE: { retryable: false },
  /** A file named on the command line is larger than the command reads. */
  MSB_CLI_FILE_TOO_LARGE: { retryable: false },
  /** A file or stdin that should be JSON is not. */
  MSB_CLI_JSON: { retryable: false },
  /** The editor of `msb config edit` failed; nothing was saved. */
  MSB_CLI_EDITOR: { retryable: false },
  /** `MSB_CLI_JSON_CONTRACT` asks for a `--json` contract version this msb does not speak (docs/cli-json.md). */
  MSB_CLI_CONTRACT: { retryable: false },
}) {}

export type CliErrorCode = keyof typeof CliError.codes;

/** Code → whether retrying can help (every module's errors.ts exports one; test/errors.test.ts reads them). */
export const CLI_ERROR_RETRYABLE = retryableOf(CliError.codes);
