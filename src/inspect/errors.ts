import { MsbError } from '../errors.js';

/**
 * A model file could not be inspected. Codes: `MSB_INSPECT_NOT_FOUND`, `MSB_INSPECT_NOT_A_FILE` (a device, FIFO or
 * socket: never read), `MSB_INSPECT_UNKNOWN_FORMAT`,
 * `MSB_INSPECT_CORRUPT` (truncated or malformed bytes), `MSB_INSPECT_UNSUPPORTED_TYPE` (a tensor type Triton cannot
 * serve), `MSB_INSPECT_SIGNATURE_REQUIRED` (the format carries no I/O description: give --input/--output), ...
 * `details.path` names the file.
 */
export class InspectError extends MsbError {}
