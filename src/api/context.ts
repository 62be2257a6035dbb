/**
 * What every part of `msb serve` shares: the options, the per-process context its route plugins are given, the
 * session cookie and CSRF header names, the route config fields and the problem+json reply. A module of its own so
 * that the server, the auth plugin, the route modules and the dashboard import it and never each other.
 */
import type { FastifyReply } from 'fastify';
import type { CorrelationIds, CorrelationIdsOptions } from '../cid/index.js';
import type { ConversionClient } from '../jobs/index.js';
import type { ModelStore, ValidateOptions } from '../store/index.js';
import type { ArtifactStore } from './artifacts.js';
import { problem } from './errors.js';
import type { Principal, Scope, TokenVerifier } from './tokens.js';

export interface ApiServerOptions {
  /** Redis URL of the queues and correlation IDs. */
  redis: string;
  /** The model store (read-only here; workers publish to it). */
  store: string;
  /** Where uploaded artifacts go: a directory the workers can read, or an {@link ArtifactStore}. */
  artifacts: string | ArtifactStore;
  /** Tokens file (`msb token add`). Without one every request is allowed, so only loopback may be bound. */
  tokens?: string;
  /** Directories job sources may name by path. Without any, paths are refused (artifacts and URIs only). */
  sourceRoots?: string[];
  /** Largest artifact upload. Default: 16 GiB. */
  maxArtifactBytes?: number;
  /** Largest JSON body. Default: 1 MiB. */
  bodyLimit?: number;
  /** A request whose body stops arriving for this long is answered 408. Default: 30 000 ms. */
  idleTimeoutMs?: number;
  /** Time a client has to send the request headers. Default: 30 000 ms. */
  headersTimeoutMs?: number;
  /** SSE keep-alive comment period. Default: 15 000 ms. */
  keepAliveMs?: number;
  /**
   * A route that needs Redis answers 503 `MSB_REDIS_UNREACHABLE` at once while Redis is down, and after this long
   * when Redis goes away during the request. Default: 5 000 ms.
   */
  redisTimeoutMs?: number;
  /** Log requests (pino) to stderr. Default: false. */
  logger?: boolean;
  /** Options of the correlation-ID leases behind `/v1/sequences` (range, quarantine, cap). Default: the library's. */
  cid?: CorrelationIdsOptions;
  /**
   * The Triton release ("25.01") the store's problems are reported against and build jobs must target (issue 24);
   * without it the store's recorded default. An unknown name refuses the start.
   */
  triton?: string;
  /** The fleet's compute capabilities ("8.6"): the problems say which model has no plan one of them can load. */
  gpus?: string[];
}

/** The cookie the dashboard's login form sets. */
export const SESSION_COOKIE = 'msb_session';

/** Non-GET requests authenticated by the cookie must carry this header: a cross-site form cannot set it. */
export const CSRF_HEADER = 'x-msb-csrf';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request (the auth plugin); undefined when it carries no known token. */
    principal: Principal | undefined;
    /** True when the principal came from the session cookie (not an Authorization header). */
    viaCookie: boolean;
  }
  interface FastifyContextConfig {
    /** Scope the route needs; absent: public. */
    scope?: Scope;
    /** Scope a non-GET request to the route needs, when it differs from `scope` (Bull Board's actions). */
    writeScope?: Scope;
    /**
     * A cookie-authenticated change may come from the same origin instead of carrying {@link CSRF_HEADER} (Bull
     * Board's own page, which cannot set the header).
     */
    sameOriginWrites?: boolean;
    /** The route reads Redis: answered 503 while Redis is unreachable instead of waiting for it. */
    redis?: boolean;
  }
}

/** What the route plugins of one server share (built once by `createApiServer`). */
export interface ApiContext {
  client: ConversionClient;
  ids: CorrelationIds;
  artifacts: ArtifactStore;
  storeRoot: string;
  /** `sourceRoots`, resolved through symbolic links. */
  sourceRoots: string[];
  options: ApiServerOptions;
  bodyLimit: number;
  maxArtifactBytes: number;
  idleMs: number;
  tokens: TokenVerifier | undefined;
  /** The release and fleet checks of the store's problems (`--triton`, else the store's default; `--gpus`). */
  checks(store: ModelStore): Promise<ValidateOptions>;
  /** The artifact `id` (`artifact:sha256:…` or its hex) names, with its size; `MSB_API_NOT_FOUND` otherwise. */
  findArtifact(id: string): Promise<{ hex: string; size: number }>;
}

/** Plugin options of every route module. */
export interface RouteOptions {
  ctx: ApiContext;
}

/** Answers an RFC 9457 problem document with msb's code. */
export function sendProblem(
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  extra: { errors?: { path: string; message: string }[] } = {},
): FastifyReply {
  // A body the server did not read keeps arriving: close the connection rather than read it.
  if (status === 413 || status === 408 || code === 'MSB_API_BAD_LENGTH') reply.header('connection', 'close');
  return reply
    .code(status)
    .type('application/problem+json')
    .send(problem(status, code, detail, { instance: reply.request.url.split('?')[0], ...extra }));
}
