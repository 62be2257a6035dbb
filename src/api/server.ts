/**
 * `msb serve`: the HTTP API v1, the dashboard and Bull Board in one stateless process. Every rule lives in the
 * module that owns it: job specs are the jobs module's zod schema (which also writes the OpenAPI document), model
 * names the store's, correlation IDs the cid module's; this layer authenticates, maps paths and errors, and streams.
 *
 * The server is Fastify plugins: the auth plugin (the request's principal and the route's scope), then one route
 * module per resource under `routes/`, the dashboard and Bull Board, each given the {@link ApiContext}.
 */
import { realpath } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Transform } from 'node:stream';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { CorrelationIds } from '../cid/index.js';
import { isMsbError } from '../errors.js';
import { ConversionClient } from '../jobs/index.js';
import { parseComputeCapabilities } from '../release/index.js';
import { ModelStore } from '../store/index.js';
import { openArtifactStore, parseArtifactId } from './artifacts.js';
import { auth } from './auth.js';
import { bullBoardRoutes } from './bull-board.js';
import { type ApiContext, type ApiServerOptions, sendProblem } from './context.js';
import { dashboardRoutes } from './dashboard.js';
import { ApiError, httpStatus } from './errors.js';
import { artifactRoutes } from './routes/artifacts.js';
import { jobRoutes } from './routes/jobs.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/models.js';
import { sequenceRoutes } from './routes/sequences.js';
import { TokenVerifier } from './tokens.js';

export type { ApiServerOptions } from './context.js';

/** Builds the server (not listening). `close()` on the instance also closes its Redis connections. */
export async function createApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  const idleMs = options.idleTimeoutMs ?? 30_000;
  const redisTimeoutMs = options.redisTimeoutMs ?? 5000;
  // What it is given is checked before anything starts: a server that cannot serve its store or lets no token in
  // is refused (the CLI's exit 2) rather than started.
  const tokens = options.tokens ? new TokenVerifier(options.tokens) : undefined;
  await tokens?.check();
  const storeRoot = path.resolve(options.store);
  const checks = (store: ModelStore) =>
    store.checksFor({
      ...(options.triton !== undefined ? { flag: options.triton } : {}),
      ...(options.gpus?.length ? { gpus: options.gpus } : {}),
    });
  const opened = await ModelStore.open(storeRoot, { readOnly: true });
  try {
    // An unknown release (named, or the store's default) and malformed GPUs refuse the start.
    if (options.gpus?.length) parseComputeCapabilities(options.gpus.join(','));
    await checks(opened);
  } finally {
    await opened.close();
  }
  const artifacts = typeof options.artifacts === 'string' ? openArtifactStore(options.artifacts) : options.artifacts;
  await artifacts.prepare();

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit,
    // Node's own timeouts answer 408 for slow headers; slow bodies are cut by the idle timer below.
    serverFactory: (handler) =>
      http.createServer(
        { headersTimeout: options.headersTimeoutMs ?? 30_000, requestTimeout: 0, connectionsCheckingInterval: 1000 },
        handler,
      ),
    // An id per request in logs; trust no client-supplied one.
    genReqId: (() => {
      let n = 0;
      return () => `r${(++n).toString(36)}`;
    })(),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const client = new ConversionClient({ redis: options.redis });
  // One connection for jobs and correlation IDs: one state to report, one fewer socket.
  const ids = new CorrelationIds(client.redis.connection, options.cid);
  app.addHook('onClose', async () => {
    await ids.close();
    await client.close();
  });

  // Artifacts are content-addressed and never changed or removed by msb, so one that was seen stays: its size is
  // remembered, and enqueueing a job from it costs no filesystem call (a stat per POST /v1/jobs was about as much
  // server CPU as the enqueue itself). Bounded: forgotten wholesale past KNOWN_MAX entries.
  const known = new Map<string, number>();
  const KNOWN_MAX = 10_000;
  const ctx: ApiContext = {
    client,
    ids,
    artifacts,
    storeRoot,
    sourceRoots: await Promise.all((options.sourceRoots ?? []).map((r) => realpath(path.resolve(r)))),
    options,
    checks,
    bodyLimit,
    maxArtifactBytes: options.maxArtifactBytes ?? 16 * 1024 ** 3,
    idleMs,
    tokens,
    async findArtifact(id) {
      const hex = parseArtifactId(id);
      const cached = hex ? known.get(hex) : undefined;
      if (hex && cached !== undefined) return { hex, size: cached };
      const s = hex ? await artifacts.stat(hex) : undefined;
      if (!hex || !s) throw new ApiError('MSB_API_NOT_FOUND', `no artifact ${id}`, { id });
      if (known.size >= KNOWN_MAX) known.clear();
      known.set(hex, s.size);
      return { hex, size: s.size };
    },
  };

  // ---- errors: RFC 9457 problem+json with msb's codes ----
  app.setErrorHandler((err: Error, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = (err as { validationContext?: string }).validationContext ?? 'body';
      const errors = err.validation.map((v) => ({
        path: `${where}${v.instancePath.replace(/\//g, '.')}`.replace(/\.$/, ''),
        message: v.message ?? 'invalid',
      }));
      return sendProblem(
        reply,
        400,
        'MSB_API_INVALID_REQUEST',
        `invalid request: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
        { errors },
      );
    }
    if (isMsbError(err)) {
      // A server-side failure that retrying can cure (Redis unreachable) is "unavailable", not a bug of the server.
      const mapped = httpStatus(err.code);
      const status = mapped === 500 && err.retryable ? 503 : mapped;
      if (status >= 500) req.log.error(err);
      if (status === 503) reply.header('retry-after', '5');
      return sendProblem(reply, status, err.code, err.message);
    }
    const code = (err as { code?: string }).code ?? '';
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendProblem(reply, 413, 'MSB_API_BODY_TOO_LARGE', `the body is larger than ${bodyLimit} bytes`);
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return sendProblem(reply, 415, 'MSB_API_MEDIA_TYPE', `content type ${req.headers['content-type']} not accepted`);
    if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH')
      return sendProblem(reply, 400, 'MSB_API_BAD_LENGTH', 'the body length differs from its content-length');
    if (code.startsWith('FST_ERR_CTP_') || err instanceof SyntaxError)
      return sendProblem(reply, 400, 'MSB_API_INVALID_REQUEST', `malformed body: ${err.message}`);
    const statusCode = (err as { statusCode?: number }).statusCode ?? 500;
    if (statusCode === 404 || code === 'FST_ERR_NOT_FOUND')
      return sendProblem(reply, 404, 'MSB_API_NOT_FOUND', err.message);
    // Fastify's own refusals of a request (e.g. a QUERY without a content type, found by schemathesis): the client's
    // doing, with Fastify's status, never a 500.
    if (code.startsWith('FST_ERR_') && statusCode >= 400 && statusCode < 500)
      return sendProblem(reply, statusCode, 'MSB_API_INVALID_REQUEST', err.message);
    req.log.error(err);
    return sendProblem(reply, 500, 'MSB_API_INTERNAL', 'internal error (see the server log)');
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, 404, 'MSB_API_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`),
  );

  // ---- slow bodies: fail with 408 when no byte arrives for idleMs ----
  app.addHook('preParsing', async (req, _reply, payload) => {
    // Uploads stream straight to the artifact store, whose one stage also watches for idleness; Bull Board's
    // requests are handed over unread to its own instance (see bull-board.ts).
    const route = req.routeOptions.url;
    if (route === '/v1/artifacts' || route === '/queues' || route === '/queues/*') return payload;
    let timer: NodeJS.Timeout | undefined;
    let received = 0;
    const guard = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        (guard as unknown as { receivedEncodedLength: number }).receivedEncodedLength = received;
        timer?.refresh();
        done(null, chunk);
      },
      flush(done) {
        clearTimeout(timer);
        done();
      },
    });
    timer = setTimeout(() => {
      const err = new ApiError('MSB_API_TIMEOUT', `no body bytes for ${idleMs} ms`, {});
      // The error reaches the route's parser or stream, which answers 408 and closes the connection.
      payload.unpipe(guard);
      guard.destroy(err);
    }, idleMs);
    const stop = () => clearTimeout(timer);
    // The consumer (body parser or artifact pipeline) gets the error through its own listener; this one only keeps
    // an error raised after the consumer finished from becoming an uncaught exception.
    guard.on('error', () => {});
    guard.once('close', stop);
    req.raw.once('close', stop);
    payload.once('error', (e) => guard.destroy(e));
    // The body ended before its content-length: Node reports it as 'aborted' on the request.
    req.raw.once('aborted', () =>
      guard.destroy(new ApiError('MSB_API_BAD_LENGTH', 'the body ended before its content-length', {})),
    );
    return payload.pipe(guard);
  });

  // ---- authentication and scopes: first, so its hook covers every route ----
  await app.register(auth, { tokens: ctx.tokens });

  // ---- Redis down: a route that reads it answers 503 within its bound instead of waiting for it ----
  app.addHook('onRequest', async (req, reply) => {
    if (!req.routeOptions.config?.redis) return;
    // ioredis queues commands while disconnected and runs them once Redis is back, so a request would wait for it.
    if (!client.redis.ready) throw client.redis.unreachable();
    // Redis lost or stopped answering during the request: answered once the bound passes. A route that streams
    // (SSE) has taken the reply over by then and is left alone.
    const timer = setTimeout(() => {
      if (!reply.sent) reply.send(client.redis.unreachable(new Error(`no answer within ${redisTimeoutMs} ms`)));
    }, redisTimeoutMs);
    reply.raw.once('close', () => clearTimeout(timer));
  });

  // ---- OpenAPI, generated from the route schemas ----
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'msb API', version: '1', description: 'Conversion jobs, artifacts, models, correlation IDs' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(metricsRoutes, { ctx });
  await app.register(artifactRoutes, { ctx });
  await app.register(jobRoutes, { ctx });
  await app.register(modelRoutes, { ctx });
  await app.register(sequenceRoutes, { ctx });
  await app.register(dashboardRoutes, { ctx });
  await app.register(bullBoardRoutes, { ctx });
  return app;
}

/** `msb serve` refuses a non-loopback address without tokens: the API would be open to the network. */
export function checkBind(host: string, tokens: string | undefined): void {
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (!loopback && !tokens) {
    throw new ApiError(
      'MSB_API_BIND',
      `refusing to listen on ${host} without --tokens: anyone who can reach it could enqueue jobs (create tokens with msb token add)`,
      { host },
    );
  }
}

export interface RunningApiServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Creates and starts the server on `host:port` (port 0: a free one). */
export async function startApiServer(
  options: ApiServerOptions & { host?: string; port?: number },
): Promise<RunningApiServer> {
  const host = options.host ?? '127.0.0.1';
  checkBind(host, options.tokens);
  const app = await createApiServer(options);
  const port = options.port ?? 8080;
  try {
    await app.listen({ host, port });
  } catch (err) {
    // Nothing may keep the process alive after this: the Redis connections close with the instance.
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
      throw new ApiError(
        'MSB_API_BIND',
        `cannot listen on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use (another msb serve?); pick another with --port' : (err as Error).message}`,
        { host, port, reason: code },
        { cause: err },
      );
    throw err;
  }
  const bound = (app.server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${shown}:${bound}`, app, close: () => app.close() };
}
