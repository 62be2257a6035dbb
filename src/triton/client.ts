/**
 * A client of Triton's model repository API, the HTTP/REST half of its "model_repository" extension
 * (triton-inference-server/server `docs/protocol/extension_model_repository.md`):
 *
 * - `POST v2/repository/index`, body `{"ready": bool}` (optional) → 200 with `[{name, version?, state, reason}]`
 * - `POST v2/repository/models/${MODEL_NAME}/load`, body empty or `{"parameters": {...}}` → 200
 * - `POST v2/repository/models/${MODEL_NAME}/unload`, optional `{"parameters": {"unload_dependents": bool}}` → 200
 * - a failure is an HTTP error status ("typically 400") with the body `{"error": "<message>"}`.
 *
 * What Triton actually answers (server `src/http_server.cc` `HttpCodeFromError`, core
 * `src/model_repository_manager/model_repository_manager.cc`, read for this module):
 *
 * - The load call returns when the load has finished: a large TensorRT plan can take minutes, hence the generous
 *   per-attempt timeout below, and node:http rather than `fetch` (Node's fetch, undici, ends a request whose
 *   response headers take longer than 300 s with `UND_ERR_HEADERS_TIMEOUT`, whatever signal the caller passes).
 * - Error codes map to statuses: INTERNAL → 500, NOT_FOUND → 404, UNAVAILABLE → 503, UNSUPPORTED → 501, and
 *   INVALID_ARG / UNKNOWN / ALREADY_EXISTS / CANCELLED → 400.
 * - The backend refusing the model is `load failed for model '…': <reason>` as INVALID_ARG, so **400**: the config
 *   or the plan does not fit this Triton (or its GPU ran out of memory). Retrying repeats the same, possibly long,
 *   load and almost always fails again, so a 400 to a load is not retried (`MSB_TRITON_LOAD_FAILED`).
 * - A model directory Triton cannot find or read is `failed to load '…', failed to poll from model repository`, an
 *   INTERNAL error, so **500**. That is the transient case (an object store whose listing has not caught up with a
 *   publish yet): retried (`MSB_TRITON_SERVER`).
 * - In poll (or none) mode, load and unload answer **503** `explicit model load / unload is not allowed if polling
 *   is enabled`. A 503 is otherwise "not ready yet, retry", but this one never changes: `MSB_TRITON_NOT_EXPLICIT`,
 *   not retried.
 * - `--http-restricted-api=model-repository:KEY=VALUE` makes the endpoints answer 403 without that header: pass it
 *   in `headers`.
 * - Load requests of one model are serialised in Triton, and loading an unchanged model again does nothing, so a
 *   load retried after a timeout (the first may have finished meanwhile) is safe.
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import { mask } from '../redis/url.js';
import { TritonError, type TritonErrorCode } from './errors.js';

/** Options of {@link TritonRepositoryClient}. Every request (load, unload, index) is retried the same way. */
export interface TritonRepositoryOptions {
  /**
   * Triton's HTTP endpoint: `http://host:8000` or `https://…`; a path is kept as a prefix (a gateway in front).
   * `user:password@` is sent as basic auth and masked in messages.
   */
  url: string;
  /** Tries per request, the first included. Default: 6 (with the defaults below, about 30 s of backoff at most). */
  attempts?: number;
  /**
   * Backoff before the second try; doubled before each further one, up to `maxBackoffMs`. Each wait is drawn
   * between half and all of that (jitter: workers that published together do not call back in step).
   * Default: 1 000 ms.
   */
  backoffMs?: number;
  /** Longest backoff between two tries. Default: 30 000 ms. */
  maxBackoffMs?: number;
  /**
   * How long one try may wait for Triton's answer. A load answers when the model is loaded, and loading a large
   * TensorRT plan (or a model with many instances) can take minutes. Default: 600 000 ms (10 minutes).
   */
  timeoutMs?: number;
  /** Headers sent with every request, e.g. the one `--http-restricted-api=model-repository:KEY=VALUE` asks for. */
  headers?: Record<string, string>;
  /** Called before each retry: which try failed, why, and how long the client waits before the next. */
  onRetry?: (retry: TritonRetry) => void;
}

/** A failed try that will be retried. */
export interface TritonRetry {
  /** The try that failed (1 is the first). */
  attempt: number;
  error: TritonError;
  /** The wait before the next try. */
  delayMs: number;
}

/** Per-call options. */
export interface TritonCallOptions {
  /** Aborts the call, the try in flight and any backoff (`MSB_TRITON_ABORTED`). */
  signal?: AbortSignal;
  /**
   * Once aborted, no further try starts: a backoff in progress ends and the call fails with the last try's error
   * (its reason added), while a try in flight still gets its answer. A worker shutting down uses it: the load it
   * has asked for may finish, but it does not wait out retries.
   */
  stopRetrying?: AbortSignal;
}

/** A request Triton answered with 200. */
export interface TritonCallResult {
  /** Tries it took (1: the first succeeded). */
  attempts: number;
}

/** One entry of `POST v2/repository/index`. */
export interface RepositoryIndexEntry {
  name: string;
  version?: string;
  state?: string;
  reason?: string;
}

/** What {@link TritonRepositoryClient.tryLoad} reports: never thrown, meant for job results and logs. */
export interface TritonLoadReport {
  /** The Triton endpoint (password masked). */
  url: string;
  model: string;
  loaded: boolean;
  /** Tries made. */
  attempts: number;
  /** When not loaded: the error's code and message. */
  code?: TritonErrorCode;
  error?: string;
}

const DEFAULTS = { attempts: 6, backoffMs: 1000, maxBackoffMs: 30_000, timeoutMs: 600_000 } as const;

/** Bodies larger than this are not Triton's answers (an index of thousands of models is a few MB). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

type Operation = 'load' | 'unload' | 'index';

/** A client of Triton's repository API (explicit model control), with retries; see the module comment. */
export class TritonRepositoryClient {
  /** The endpoint, password masked: for messages and logs. */
  readonly url: string;
  private readonly base: URL;
  private readonly options: Required<Omit<TritonRepositoryOptions, 'url' | 'onRetry' | 'headers'>> &
    Pick<TritonRepositoryOptions, 'onRetry' | 'headers'>;

  /** Checks the options; a URL msb cannot use is `MSB_TRITON_URL`, a bad number `MSB_TRITON_OPTIONS`. */
  constructor(options: TritonRepositoryOptions) {
    this.base = parseTritonUrl(options.url);
    this.url = mask(this.base.href.replace(/\/$/, ''));
    this.options = { ...DEFAULTS, ...definedOnly(options) };
    const { attempts, backoffMs, maxBackoffMs, timeoutMs } = this.options;
    positive('attempts', attempts, true);
    positive('backoffMs', backoffMs, false, true);
    positive('maxBackoffMs', maxBackoffMs, false, true);
    positive('timeoutMs', timeoutMs, false);
  }

  /**
   * Asks Triton to load (or reload) `model` from its repository and waits until it has. Throws a
   * {@link TritonError} once a try fails with a non-retryable error, or all tries failed (`details.attempts`).
   */
  load(model: string, options: TritonCallOptions = {}): Promise<TritonCallResult> {
    return this.call('load', this.modelPath(model, 'load'), undefined, model, options).then((r) => ({
      attempts: r.attempts,
    }));
  }

  /** Asks Triton to unload `model` (and, with `unloadDependents`, the models loaded with it, e.g. an ensemble's). */
  unload(model: string, options: TritonCallOptions & { unloadDependents?: boolean } = {}): Promise<TritonCallResult> {
    const body = options.unloadDependents ? { parameters: { unload_dependents: true } } : undefined;
    return this.call('unload', this.modelPath(model, 'unload'), body, model, options).then((r) => ({
      attempts: r.attempts,
    }));
  }

  /** Every model of the repository with its state (`ready: true`: only those ready for inference). */
  async index(options: TritonCallOptions & { ready?: boolean } = {}): Promise<RepositoryIndexEntry[]> {
    const body = options.ready === undefined ? {} : { ready: options.ready };
    const { text } = await this.call('index', 'v2/repository/index', body, undefined, options);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || !parsed.every((e) => typeof e?.name === 'string'))
      throw new TritonError(
        'MSB_TRITON_PROTOCOL',
        `Triton at ${this.url} answered the repository index with something other than a list of models: ${excerpt(text)}`,
        { url: this.url, operation: 'index' },
      );
    return parsed as RepositoryIndexEntry[];
  }

  /** {@link load}, reporting instead of throwing: what a worker records in a job's result after a publish. */
  async tryLoad(model: string, options: TritonCallOptions = {}): Promise<TritonLoadReport> {
    try {
      const { attempts } = await this.load(model, options);
      return { url: this.url, model, loaded: true, attempts };
    } catch (err) {
      const e =
        err instanceof TritonError
          ? err
          : new TritonError('MSB_TRITON_PROTOCOL', String((err as Error)?.message ?? err), {}, { cause: err });
      return {
        url: this.url,
        model,
        loaded: false,
        attempts: Number(e.details.attempts ?? 0),
        code: e.code,
        error: e.message,
      };
    }
  }

  private modelPath(model: string, action: 'load' | 'unload'): string {
    return `v2/repository/models/${encodeURIComponent(model)}/${action}`;
  }

  /** One request with the retry policy: retryable errors are tried again after a backoff, others end the call. */
  private async call(
    op: Operation,
    path: string,
    body: unknown,
    model: string | undefined,
    { signal, stopRetrying }: TritonCallOptions,
  ): Promise<{ text: string; attempts: number }> {
    const { attempts, backoffMs, maxBackoffMs } = this.options;
    /** Ends the call with the last try's error, saying how many tries it took and why retrying stopped early. */
    const fail = (error: TritonError, attempt: number, stopped = false): never => {
      const notes = [
        ...(attempt > 1 ? [`after ${attempt} tries`] : []),
        ...(stopped ? [`retries stopped: ${reasonOf(stopRetrying)}`] : []),
      ];
      throw new TritonError(
        error.code,
        notes.length ? `${error.message} (${notes.join('; ')})` : error.message,
        { ...error.details, attempts: attempt },
        { cause: error.cause ?? error },
      );
    };
    const what = model === undefined ? op : `${op} of model '${model}'`;
    for (let attempt = 1; ; attempt++) {
      let error: TritonError;
      try {
        const res = await this.send(path, body, signal);
        if (res.status >= 200 && res.status < 300) return { text: res.text, attempts: attempt };
        error = this.classify(op, res.status, res.text, what);
      } catch (err) {
        error = this.transportError(err, signal, what);
      }
      if (!error.retryable || attempt >= attempts) fail(error, attempt);
      if (stopRetrying?.aborted) fail(error, attempt, true);
      const base = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
      const delayMs = Math.round(base / 2 + Math.random() * (base / 2));
      this.options.onRetry?.({ attempt, error, delayMs });
      const waits = [signal, stopRetrying].filter((x): x is AbortSignal => x !== undefined);
      try {
        await delay(delayMs, undefined, waits.length ? { signal: AbortSignal.any(waits) } : {});
      } catch {
        if (!signal?.aborted) fail(error, attempt, true);
        throw new TritonError(
          'MSB_TRITON_ABORTED',
          `${what} at Triton ${this.url} aborted while waiting to retry (${reasonOf(signal)}); last try: ${error.message}`,
          { url: this.url, operation: op, attempts: attempt },
        );
      }
    }
  }

  /** POSTs `body` (JSON; none when undefined) and reads the whole answer. node:http: see the module comment. */
  private send(
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; text: string }> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? '' : JSON.stringify(body);
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method: 'POST',
          // one connection per request: calls are rare, and no idle socket outlives the call
          agent: false,
          signal: abort,
          headers: {
            accept: 'application/json',
            'content-length': Buffer.byteLength(payload),
            ...(payload ? { 'content-type': 'application/json' } : {}),
            ...this.options.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              req.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A non-2xx answer as a typed error (the mapping is explained in the module comment). */
  private classify(op: Operation, status: number, text: string, what: string): TritonError {
    const reason = errorMessage(text);
    const details = { url: this.url, operation: op, status, reason };
    const say = (code: TritonErrorCode, summary: string) =>
      new TritonError(code, `${summary}: HTTP ${status}: ${reason}`, details);
    if (status === 503 && /not allowed if polling is enabled/i.test(reason))
      return say(
        'MSB_TRITON_NOT_EXPLICIT',
        `Triton at ${this.url} refused the ${what}: it does not run with --model-control-mode=explicit (it polls the repository, so no load call is needed)`,
      );
    if (status === 503 || status === 408 || status === 429)
      return say('MSB_TRITON_UNAVAILABLE', `Triton at ${this.url} is not ready for the ${what}`);
    if (status >= 500 && status !== 501) return say('MSB_TRITON_SERVER', `Triton at ${this.url} failed the ${what}`);
    if (status === 400 && op === 'load')
      return say('MSB_TRITON_LOAD_FAILED', `Triton at ${this.url} tried the ${what} and it failed`);
    return say('MSB_TRITON_REFUSED', `Triton at ${this.url} refused the ${what}`);
  }

  /** A request that got no answer: the caller's abort, the try's timeout, or no connection. */
  private transportError(err: unknown, signal: AbortSignal | undefined, what: string): TritonError {
    const details = { url: this.url };
    if (signal?.aborted)
      return new TritonError(
        'MSB_TRITON_ABORTED',
        `${what} at Triton ${this.url} aborted (${reasonOf(signal)})`,
        details,
        {
          cause: err,
        },
      );
    const e = err as NodeJS.ErrnoException;
    if (e?.name === 'AbortError' || e?.name === 'TimeoutError')
      return new TritonError(
        'MSB_TRITON_TIMEOUT',
        `Triton at ${this.url} did not answer the ${what} within ${this.options.timeoutMs} ms`,
        { ...details, timeoutMs: this.options.timeoutMs },
        { cause: err },
      );
    const why = e?.code
      ? `${e.code}${e.message && !e.message.includes(e.code) ? `: ${e.message}` : ''}`
      : String(e?.message ?? e);
    return new TritonError(
      'MSB_TRITON_UNREACHABLE',
      `cannot reach Triton at ${this.url} for the ${what} (${why})`,
      details,
      {
        cause: err,
      },
    );
  }
}

/**
 * Checks a Triton base URL: http:// or https:// with a host, no query or fragment. Returns it with a trailing
 * slash, so request paths resolve under any path prefix.
 */
export function parseTritonUrl(text: string): URL {
  const bad = (why: string): never => {
    throw new TritonError(
      'MSB_TRITON_URL',
      `invalid Triton URL ${JSON.stringify(mask(String(text)))}: ${why} (form: http://host:8000 or https://host[:port][/prefix])`,
      { url: mask(String(text)) },
    );
  };
  if (typeof text !== 'string' || text.trim() === '') return bad('empty');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return bad(
      `Triton's repository API is HTTP/REST, so the scheme is http or https, not ${url.protocol.replace(/:$/, '')}${url.protocol === 'grpc:' ? ' (gRPC is on port 8001; HTTP is on 8000 by default)' : ''}`,
    );
  if (!url.hostname) return bad('no host');
  if (url.search || url.hash) return bad('a base URL takes no query or fragment');
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  return url;
}

/** The `error` of Triton's JSON error body, else the body itself (shortened). */
function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed?.error === 'string') return parsed.error.trim();
  } catch {
    // not JSON: a proxy's page, or nothing
  }
  return text.trim() ? excerpt(text) : '(no message)';
}

function excerpt(text: string): string {
  const t = text.trim().replace(/\s+/g, ' ');
  return t.length > 200 ? `${t.slice(0, 200)}…` : t || '(empty)';
}

function reasonOf(signal: AbortSignal | undefined): string {
  const r = signal?.reason;
  if (r instanceof Error) return r.message;
  return r === undefined ? 'aborted' : String(r);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function positive(name: string, value: number, integer: boolean, zeroOk = false): void {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (zeroOk ? value >= 0 : value > 0) &&
    (!integer || Number.isInteger(value));
  if (!ok)
    throw new TritonError(
      'MSB_TRITON_OPTIONS',
      `Triton client option ${name} must be ${integer ? 'an integer' : 'a number'} ${zeroOk ? '>= 0' : '> 0'}, got ${JSON.stringify(value)}`,
      { option: name, value },
    );
}
