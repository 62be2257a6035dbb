import { defineErrors, errorStatus, retryableOf } from '../errors.js';

/**
 * A request the HTTP API refused, or a `msb serve` / `msb token` command that cannot run. Each code says whether
 * retrying can help and the HTTP status it answers with. Errors of the other modules keep their own codes
 * (`MSB_JOB_*`, `MSB_STORE_*`, `MSB_CID_*`) and statuses, defined with them; {@link httpStatus} reads any of them.
 */
export class ApiError extends defineErrors('MSB_API_', {
  /** No token, or one the server does not know. */
  MSB_API_UNAUTHORIZED: { retryable: false, status: 401 },
  /** The token lacks the scope the route needs, or a cookie-authenticated change lacks the CSRF header. */
  MSB_API_FORBIDDEN: { retryable: false, status: 403 },
  /** Malformed JSON, a field that fails its schema, an unknown field; `errors` lists each with its path. */
  MSB_API_INVALID_REQUEST: { retryable: false, status: 400 },
  /** The body is larger than the route allows. */
  MSB_API_BODY_TOO_LARGE: { retryable: false, status: 413 },
  /** The body ended before its `content-length`. */
  MSB_API_BAD_LENGTH: { retryable: false, status: 400 },
  /** The client stopped sending the body. */
  MSB_API_TIMEOUT: { retryable: true, status: 408 },
  /** A content type the route does not take. */
  MSB_API_MEDIA_TYPE: { retryable: false, status: 415 },
  /** No such route, artifact, job, model. */
  MSB_API_NOT_FOUND: { retryable: false, status: 404 },
  /** A job source outside every `--source-root` (or any path when none is set). */
  MSB_API_SOURCE_FORBIDDEN: { retryable: false, status: 403 },
  /** A source URI scheme the workers cannot read yet. */
  MSB_API_SOURCE_UNSUPPORTED: { retryable: false, status: 422 },
  /** The tokens file cannot be read or written, or a token name or scope is invalid. */
  MSB_API_TOKENS: { retryable: false },
  /** `msb serve` cannot listen: a non-loopback address without `--tokens`, or the port is in use. */
  MSB_API_BIND: { retryable: false },
  /** A failure that is not the client's doing (details in the server log). */
  MSB_API_INTERNAL: { retryable: true, status: 500 },
}) {}

export type ApiErrorCode = keyof typeof ApiError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `ApiError.codes`). */
export const API_ERROR_RETRYABLE = retryableOf(ApiError.codes);

/** The HTTP status for an msb error code, read from the module that defines it ({@link errorStatus}). */
export const httpStatus = errorStatus;

/** RFC 9457 problem details, with msb's stable `code` and, for invalid requests, every problem with its path. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: { path: string; message: string }[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problem(
  status: number,
  code: string,
  detail: string,
  extra: Pick<Problem, 'instance' | 'errors'> = {},
): Problem {
  return {
    // RFC 9457 §4.2.1: "about:blank" means the problem is the HTTP status itself; msb's `code` refines it.
    type: 'about:blank',
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...extra,
  };
}
