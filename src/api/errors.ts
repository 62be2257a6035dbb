import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of {@link ApiError} (HTTP status in brackets), each with whether retrying can help. Errors of the
 * other modules keep their own codes (`MSB_JOB_*`, `MSB_STORE_*`, `MSB_CID_*`); {@link httpStatus} gives their status.
 */
export const API_ERROR_RETRYABLE = {
  /** (401) No token, or one the server does not know. */
  MSB_API_UNAUTHORIZED: false,
  /** (403) The token lacks the scope the route needs, or a cookie-authenticated change lacks the CSRF header. */
  MSB_API_FORBIDDEN: false,
  /** (400) Malformed JSON, a field that fails its schema, an unknown field; `errors` lists each with its path. */
  MSB_API_INVALID_REQUEST: false,
  /** (413) The body is larger than the route allows. */
  MSB_API_BODY_TOO_LARGE: false,
  /** (400) The body ended before its `content-length`. */
  MSB_API_BAD_LENGTH: false,
  /** (408) The client stopped sending the body. */
  MSB_API_TIMEOUT: true,
  /** (415) A content type the route does not take. */
  MSB_API_MEDIA_TYPE: false,
  /** (404) No such route, artifact, job, model. */
  MSB_API_NOT_FOUND: false,
  /** (403) A job source outside every `--source-root` (or any path when none is set). */
  MSB_API_SOURCE_FORBIDDEN: false,
  /** (422) A source URI scheme the workers cannot read yet. */
  MSB_API_SOURCE_UNSUPPORTED: false,
  /** The tokens file cannot be read or written, or a token name or scope is invalid. */
  MSB_API_TOKENS: false,
  /** `msb serve` cannot listen: a non-loopback address without `--tokens`, or the port is in use. */
  MSB_API_BIND: false,
  /** (500) A failure that is not the client's doing (details in the server log). */
  MSB_API_INTERNAL: true,
} as const satisfies Record<string, boolean>;

export type ApiErrorCode = keyof typeof API_ERROR_RETRYABLE;

/** A request the HTTP API refused, or a `msb serve` / `msb token` command that cannot run. */
export class ApiError extends MsbError {
  declare readonly code: ApiErrorCode;

  constructor(code: ApiErrorCode, message: string, details: Record<string, unknown> = {}, options?: MsbErrorOptions) {
    super(code, message, details, { retryable: API_ERROR_RETRYABLE[code], ...options });
  }
}

const STATUS: [RegExp, number][] = [
  [/^MSB_API_UNAUTHORIZED$/, 401],
  [/^MSB_API_(FORBIDDEN|SOURCE_FORBIDDEN)$/, 403],
  [/^MSB_API_BODY_TOO_LARGE$/, 413],
  [/^MSB_API_MEDIA_TYPE$/, 415],
  [/^MSB_API_TIMEOUT$/, 408],
  [/^MSB_API_SOURCE_UNSUPPORTED$/, 422],
  [/_NOT_FOUND$/, 404],
  [/^MSB_JOB_(FINISHED|NOT_FAILED)$/, 409],
  [/^MSB_CID_(NOT_HELD|EXPIRED)$/, 409],
  [/^MSB_CID_(CAP_REACHED|EXHAUSTED)$/, 429],
  [/^MSB_JOB_SOURCE/, 422],
  [/^MSB_STORE_LOCK_TIMEOUT$/, 503],
  [
    /^MSB_(API_INVALID_REQUEST|API_BAD_LENGTH|JOB_INVALID_SPEC|STORE_INVALID_NAME|CID_MODEL_NAME|CID_TTL|CID_KIND|CID_ID|CID_OPTION)$/,
    400,
  ],
];

/** The HTTP status for an msb error code; 500 for codes that are not the client's doing. */
export function httpStatus(code: string): number {
  for (const [re, status] of STATUS) if (re.test(code)) return status;
  return 500;
}

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
