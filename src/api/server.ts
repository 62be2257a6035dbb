/**
 * `msb serve`: the HTTP API v1, the dashboard and Bull Board in one stateless process. Every rule lives in the
 * module that owns it: job specs are the jobs module's zod schema (which also writes the OpenAPI document), model
 * names the store's, correlation IDs the cid module's; this layer authenticates, maps paths and errors, and streams.
 */
import { realpath } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Transform } from 'node:stream';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { Histogram } from 'prom-client';
import { z } from 'zod';
import { CorrelationIds, type CorrelationIdsOptions, parseId } from '../cid/index.js';
import { isMsbError } from '../errors.js';
import {
  ConversionClient,
  isRemoteSource,
  type JobInfo,
  jobSpecSchema,
  knownQueues,
  registerQueueMetrics,
} from '../jobs/index.js';
import { Registry } from '../server/index.js';
import { ModelStore, renderConfig } from '../store/index.js';
import { type ArtifactStore, artifactId, openArtifactStore, parseArtifactId } from './artifacts.js';
import { mountDashboard } from './dashboard.js';
import { ApiError, httpStatus, problem } from './errors.js';
import { followJob } from './events.js';
import { allows, type Principal, type Scope, TokenVerifier } from './tokens.js';

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
  /** Log requests (pino) to stderr. Default: false. */
  logger?: boolean;
  /** Options of the correlation-ID leases behind `/v1/sequences` (range, quarantine, cap). Default: the library's. */
  cid?: CorrelationIdsOptions;
}

/** The principal of a server without a tokens file: everything is allowed (it only listens on loopback). */
const OPEN: Principal = { name: 'local', scopes: ['admin'] };

/** The cookie the dashboard's login form sets. */
export const SESSION_COOKIE = 'msb_session';

/** Non-GET requests authenticated by the cookie must carry this header: a cross-site form cannot set it. */
export const CSRF_HEADER = 'x-msb-csrf';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** True when the principal came from the session cookie (not an Authorization header). */
    viaCookie?: boolean;
  }
  interface FastifyContextConfig {
    /** Scope the route needs; absent: public. */
    scope?: Scope;
  }
}

export interface ApiContext {
  client: ConversionClient;
  ids: CorrelationIds;
  artifacts: ArtifactStore;
  storeRoot: string;
  options: ApiServerOptions;
  tokens: TokenVerifier | undefined;
  /** Resolves the principal of a request (header or cookie); undefined when it has none. */
  principalOf(req: FastifyRequest): Promise<Principal | undefined>;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

const JOB_ID = z.string().regex(/^[0-9a-f]{64}$/, 'a job id: 64 hex digits');
const MODEL = z.string().min(1).max(1024);
const CID = z.string().regex(/^[1-9]\d{0,19}$/, 'a correlation ID: a decimal integer in 1..2^64-1');
const ERROR_STATES = [
  'waiting',
  'delayed',
  'active',
  'completed',
  'failed',
  'prioritized',
  'waiting-children',
] as const;

/** Builds the server (not listening). `close()` on the instance also closes its Redis connections. */
export async function createApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  const maxArtifactBytes = options.maxArtifactBytes ?? 16 * 1024 ** 3;
  const idleMs = options.idleTimeoutMs ?? 30_000;
  const artifacts = typeof options.artifacts === 'string' ? openArtifactStore(options.artifacts) : options.artifacts;
  await artifacts.prepare();
  const storeRoot = path.resolve(options.store);
  const sourceRoots = await Promise.all((options.sourceRoots ?? []).map((r) => realpath(path.resolve(r))));

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
  const ids = new CorrelationIds(options.redis, options.cid);
  const tokens = options.tokens ? new TokenVerifier(options.tokens) : undefined;
  app.addHook('onClose', async () => {
    await client.close();
    await ids.close();
  });

  const ctx: ApiContext = {
    client,
    ids,
    artifacts,
    storeRoot,
    options,
    tokens,
    async principalOf(req) {
      if (req.principal) return req.principal;
      if (!tokens) return OPEN;
      const auth = req.headers.authorization;
      const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      const token = bearer ?? cookieValue(req.headers.cookie, SESSION_COOKIE);
      if (!token || token.length > 256) return undefined;
      const p = await tokens.verify(token);
      if (p) {
        req.principal = p;
        req.viaCookie = bearer === undefined;
      }
      return p;
    },
  };

  // ---- metrics (the ops server's registry type; the workers' queue gauges, for every known queue) ----
  const registry = new Registry();
  const durations = new Histogram({
    name: 'msb_http_request_duration_seconds',
    help: 'HTTP request durations of msb serve, by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [registry],
  });
  // Every queue a job was ever routed to, so a pool scaled to zero still exports its backlog (KEDA scales on it).
  const queueMetrics = registerQueueMetrics(registry, client.redis, () => knownQueues(client.redis));
  app.addHook('onClose', () => queueMetrics.close());
  app.addHook('onResponse', async (req, reply) => {
    durations.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  // ---- errors: RFC 9457 problem+json with msb's codes ----
  const sendProblem = (reply: FastifyReply, status: number, code: string, detail: string, extra = {}) => {
    // A body the server did not read keeps arriving: close the connection rather than read it.
    if (status === 413 || status === 408 || code === 'MSB_API_BAD_LENGTH') reply.header('connection', 'close');
    return reply
      .code(status)
      .type('application/problem+json')
      .send(problem(status, code, detail, { instance: reply.request.url.split('?')[0], ...extra }));
  };
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
      const status = httpStatus(err.code);
      if (status >= 500) req.log.error(err);
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
    if ((err as { statusCode?: number }).statusCode === 404 || code === 'FST_ERR_NOT_FOUND')
      return sendProblem(reply, 404, 'MSB_API_NOT_FOUND', err.message);
    req.log.error(err);
    return sendProblem(reply, 500, 'MSB_API_INTERNAL', 'internal error (see the server log)');
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, 404, 'MSB_API_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`),
  );

  // ---- slow bodies: fail with 408 when no byte arrives for idleMs ----
  app.addHook('preParsing', async (req, _reply, payload) => {
    // Uploads stream straight to the artifact store, whose one stage also watches for idleness; Bull Board's
    // requests are handed over unread to its own instance (see mountBullBoard).
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

  // ---- authentication and scopes ----
  app.addHook('onRequest', async (req, reply) => {
    const scope = req.routeOptions.config?.scope;
    if (!scope) return;
    const p = await ctx.principalOf(req);
    if (!p) {
      reply.header('www-authenticate', 'Bearer realm="msb"');
      return sendProblem(reply, 401, 'MSB_API_UNAUTHORIZED', 'a bearer token is needed (msb token add)');
    }
    if (!allows(p, scope))
      return sendProblem(reply, 403, 'MSB_API_FORBIDDEN', `token ${p.name} lacks the ${scope} scope this needs`);
    const unsafe = req.method !== 'GET' && req.method !== 'HEAD';
    if (unsafe && req.viaCookie && req.headers[CSRF_HEADER] !== '1') {
      return sendProblem(
        reply,
        403,
        'MSB_API_FORBIDDEN',
        `a state change authenticated by the session cookie needs the ${CSRF_HEADER} header`,
      );
    }
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

  // ---- health and metrics (public, like the workers' ops endpoint) ----
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const checks: Record<string, string> = {};
    await client.ping().then(
      () => (checks.redis = 'ok'),
      (e: Error) => (checks.redis = e.message),
    );
    await ModelStore.open(storeRoot)
      .then((s) => s.listModels())
      .then(
        () => (checks.store = 'ok'),
        (e: Error) => (checks.store = e.message),
      );
    const ok = Object.values(checks).every((v) => v === 'ok');
    return reply.code(ok ? 200 : 503).send({ ok, ...checks });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );

  // ---- artifacts ----
  await app.register(async (scope) => {
    // The body is the model file: handed over as a stream, never parsed or buffered.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    scope.put(
      '/v1/artifacts',
      {
        config: { scope: 'enqueue' },
        schema: {
          summary: 'Upload a model file (streamed; stored content-addressed by SHA-256)',
          tags: ['artifacts'],
          response: { 200: artifactSchema, 201: artifactSchema },
        },
      },
      async (req, reply) => {
        const declared = req.headers['content-length'];
        const length = declared !== undefined ? Number(declared) : undefined;
        if (length !== undefined && length > maxArtifactBytes) {
          throw new ApiError('MSB_API_BODY_TOO_LARGE', `${length} bytes is above the limit of ${maxArtifactBytes}`, {});
        }
        const stored = await artifacts.put(req.body as NodeJS.ReadableStream as import('node:stream').Readable, {
          limit: maxArtifactBytes,
          idleMs,
          ...(length !== undefined ? { expectedLength: length } : {}),
        });
        const { created, ...body } = stored;
        return reply.code(created ? 201 : 200).send(body);
      },
    );
  });
  const artifactParams = z.strictObject({ id: z.string().max(200) });
  // Artifacts are content-addressed and never changed or removed by msb, so one that was seen stays: its size is
  // remembered, and enqueueing a job from it costs no filesystem call (a stat per POST /v1/jobs was about as much
  // server CPU as the enqueue itself). Bounded: forgotten wholesale past KNOWN_MAX entries.
  const known = new Map<string, number>();
  const KNOWN_MAX = 10_000;
  const findArtifact = async (id: string) => {
    const hex = parseArtifactId(id);
    const cached = hex ? known.get(hex) : undefined;
    if (hex && cached !== undefined) return { hex, size: cached };
    const s = hex ? await artifacts.stat(hex) : undefined;
    if (!hex || !s) throw new ApiError('MSB_API_NOT_FOUND', `no artifact ${id}`, { id });
    if (known.size >= KNOWN_MAX) known.clear();
    known.set(hex, s.size);
    return { hex, size: s.size };
  };
  app.head(
    '/v1/artifacts/:id',
    { config: { scope: 'read' }, schema: { params: artifactParams, tags: ['artifacts'] } },
    async (req, reply) => {
      const a = await findArtifact(req.params.id);
      return reply.header('content-length', a.size).header('digest', `sha-256=${a.hex}`).send();
    },
  );
  app.get(
    '/v1/artifacts/:id',
    {
      config: { scope: 'read' },
      schema: { params: artifactParams, tags: ['artifacts'], summary: 'Download an artifact', hide: false },
      exposeHeadRoute: false,
    },
    async (req, reply) => {
      const a = await findArtifact(req.params.id);
      return reply
        .type('application/octet-stream')
        .header('content-length', a.size)
        .header('etag', `"${a.hex}"`)
        .send(artifacts.read(a.hex));
    },
  );

  // ---- jobs ----
  /** The spec's source as workers will read it: artifacts by their storage location, paths under a source root. */
  const resolveSource = async (source: string): Promise<{ path: string; sourceDigest?: string }> => {
    if (source.startsWith('artifact:')) {
      const { hex } = await findArtifact(source);
      return { path: artifacts.source(hex), sourceDigest: hex };
    }
    // Object-store and https sources go to the client as they are: it takes `sourceDigest` from the spec, else the
    // object's SHA-256 checksum, else reads the object once; a source it cannot read is MSB_JOB_SOURCE (422).
    if (isRemoteSource(source)) return { path: source };
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
      throw new ApiError(
        'MSB_API_SOURCE_UNSUPPORTED',
        `source ${source}: workers read s3://, gs:// and https:// sources only; upload it with PUT /v1/artifacts`,
        { source },
      );
    }
    if (sourceRoots.length === 0) {
      throw new ApiError(
        'MSB_API_SOURCE_FORBIDDEN',
        'sources by path are refused: this server has no --source-root (upload the file with PUT /v1/artifacts)',
        { source },
      );
    }
    if (!path.isAbsolute(source)) {
      throw new ApiError('MSB_API_SOURCE_FORBIDDEN', `source ${source}: an absolute path is needed`, { source });
    }
    // realpath: `..` and symbolic links are followed before the check, so neither leads out of a root.
    const real = await realpath(source).catch(() => {
      throw new ApiError('MSB_API_SOURCE_FORBIDDEN', `source ${source} is not under a source root`, { source });
    });
    if (!sourceRoots.some((r) => real === r || real.startsWith(`${r}${path.sep}`))) {
      throw new ApiError('MSB_API_SOURCE_FORBIDDEN', `source ${source} is not under a source root`, { source });
    }
    return { path: real };
  };

  app.post(
    '/v1/jobs',
    {
      config: { scope: 'enqueue' },
      schema: {
        summary: 'Enqueue a conversion job (import, build, inspect)',
        tags: ['jobs'],
        body: jobSpecSchema,
        response: { 202: enqueuedSchema },
      },
    },
    async (req, reply) => {
      const source = await resolveSource(req.body.source);
      const handle = await client.enqueue({
        ...req.body,
        source: source.path,
        ...(source.sourceDigest ? { sourceDigest: source.sourceDigest } : {}),
      });
      return reply.code(202).send({
        id: handle.id,
        queue: handle.queue,
        // A job this call added is waiting (a worker may already hold it: the next GET tells); an existing one is
        // looked up.
        state: handle.deduplicated ? await client.state(handle) : 'waiting',
        deduplicated: handle.deduplicated,
      });
    },
  );
  app.get(
    '/v1/jobs',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Jobs, newest first, paged',
        tags: ['jobs'],
        querystring: z.strictObject({
          state: z.enum(ERROR_STATES).optional(),
          queue: z.string().max(200).optional(),
          model: z.string().max(1024).optional(),
          cursor: z.string().max(200).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const all = (await client.list()).filter(
        (j) =>
          (!q.state || j.state === q.state) && (!q.queue || j.queue === q.queue) && (!q.model || j.model === q.model),
      );
      // The cursor is the last job of the previous page (createdAt and id): stable while jobs are added.
      let start = 0;
      if (q.cursor) {
        const [t, id] = Buffer.from(q.cursor, 'base64url').toString().split(':');
        const after = all.findIndex((j) => j.createdAt < Number(t) || (j.createdAt === Number(t) && j.id < (id ?? '')));
        start = after === -1 ? all.length : after;
      }
      const page = all.slice(start, start + q.limit);
      const last = page.at(-1);
      return {
        jobs: page,
        nextCursor:
          last && start + q.limit < all.length
            ? Buffer.from(`${last.createdAt}:${last.id}`).toString('base64url')
            : null,
      };
    },
  );
  const jobParams = z.strictObject({ id: JOB_ID });
  const getJob = async (id: string): Promise<JobInfo & { logs: string[]; logCount: number }> => {
    const info = await client.get(id);
    if (!info) throw new ApiError('MSB_API_NOT_FOUND', `no job ${id}`, { id });
    const { logs, count } = await client.logs(id, -50, -1);
    return { ...info, logs, logCount: count };
  };
  app.get(
    '/v1/jobs/:id',
    { config: { scope: 'read' }, schema: { summary: 'One job', tags: ['jobs'], params: jobParams } },
    async (req) => getJob(req.params.id),
  );
  app.get(
    '/v1/jobs/:id/events',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Server-Sent Events of a job until it ends; resumes after Last-Event-ID',
        tags: ['jobs'],
        params: jobParams,
        headers: z.object({
          'last-event-id': z
            .string()
            .regex(/^\d{1,9}$/)
            .optional(),
        }),
      },
    },
    async (req, reply) => {
      const info = await client.get(req.params.id);
      if (!info) throw new ApiError('MSB_API_NOT_FOUND', `no job ${req.params.id}`, { id: req.params.id });
      const from = Number(req.headers['last-event-id'] ?? 0);
      reply.hijack();
      await followJob(client, info, from, req.raw, reply.raw, options.keepAliveMs ?? 15_000);
    },
  );
  // Cancel and retry: the client's own state rules (409 when the job is in the wrong state).
  for (const [action, summary, run] of [
    ['cancel', 'Cancel a job', (id: string) => client.cancel(id)],
    ['retry', 'Run a failed job again', (id: string) => client.retry(id)],
  ] as const) {
    app.post(
      `/v1/jobs/:id/${action}`,
      { config: { scope: 'enqueue' }, schema: { summary, tags: ['jobs'], params: jobParams } },
      async (req, reply) => {
        await run(req.params.id);
        return reply.code(202).send({ id: req.params.id, action });
      },
    );
  }

  // ---- workers and queues ----
  app.get(
    '/v1/workers',
    { config: { scope: 'read' }, schema: { summary: 'Live workers', tags: ['workers'] } },
    async () => {
      const now = Date.now();
      return {
        workers: (await client.workers()).map((w) => ({
          ...w,
          heartbeatAgeSeconds: w.heartbeatAt ? (now - Date.parse(w.heartbeatAt)) / 1000 : null,
        })),
      };
    },
  );
  app.get(
    '/v1/queues',
    { config: { scope: 'read' }, schema: { summary: 'Queues with counts by state', tags: ['queues'] } },
    async () => ({ queues: await client.queueStats() }),
  );

  // ---- models (read-only store view) ----
  const openStore = () => ModelStore.open(storeRoot);
  app.get(
    '/v1/models',
    { config: { scope: 'read' }, schema: { summary: 'Models of the store', tags: ['models'] } },
    async () => {
      const store = await openStore();
      const models = await Promise.all(
        (await store.listModels()).map(async (name) => {
          try {
            const m = await store.getModel(name);
            return { name, platform: m.config.platform ?? m.config.backend ?? '', versions: await m.listVersions() };
          } catch (err) {
            return { name, error: isMsbError(err) ? `${err.code}: ${err.message}` : String(err) };
          }
        }),
      );
      return { models };
    },
  );
  app.get(
    '/v1/models/:name',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'One model: config, versions, labels, problems',
        tags: ['models'],
        params: z.strictObject({ name: MODEL }),
      },
    },
    async (req) => {
      const store = await openStore();
      // getModel applies the store's name rules before any filesystem call.
      const model = await store.getModel(req.params.name);
      const info = await model.describe();
      const problems = (await store.validate()).filter(
        (p) => p.path === model.name || p.path.startsWith(`${model.name}/`),
      );
      return { ...info, pbtxt: renderConfig(model.name, info.config), problems };
    },
  );

  // ---- correlation IDs ----
  const leaseOut = (l: {
    model: string;
    kind: string;
    id: bigint | string;
    token: string;
    ttl: number;
    acquiredAt: number;
    expiresAt: number;
  }) => ({
    model: l.model,
    kind: l.kind,
    id: String(l.id),
    token: l.token,
    ttl: l.ttl,
    acquiredAt: l.acquiredAt,
    expiresAt: l.expiresAt,
  });
  app.post(
    '/v1/sequences/:model',
    {
      config: { scope: 'enqueue' },
      schema: {
        summary: 'Acquire a correlation ID for a sequence model',
        tags: ['sequences'],
        params: z.strictObject({ model: MODEL }),
        body: z
          .strictObject({
            kind: z.enum(['uint64', 'string']).optional(),
            ttlMs: z
              .number()
              .int()
              .min(1)
              .max(24 * 3600_000)
              .optional(),
          })
          .nullish(),
      },
    },
    async (req, reply) => {
      const body = req.body ?? {};
      const lease = await ids.acquire(req.params.model, {
        ...(body.kind ? { kind: body.kind } : {}),
        ...(body.ttlMs ? { ttl: body.ttlMs } : {}),
      });
      return reply.code(201).send(leaseOut(lease));
    },
  );
  const seqParams = z.strictObject({ model: MODEL, id: CID });
  app.post(
    '/v1/sequences/:model/:id/renew',
    {
      config: { scope: 'enqueue' },
      schema: {
        summary: 'Renew a correlation-ID lease',
        tags: ['sequences'],
        params: seqParams,
        body: z.strictObject({
          token: z.string().min(1).max(200),
          ttlMs: z
            .number()
            .int()
            .min(1)
            .max(24 * 3600_000)
            .optional(),
        }),
      },
    },
    async (req) => {
      const lease = await ids.renew(
        { model: req.params.model, id: parseId(req.params.id), token: req.body.token },
        req.body.ttlMs ? { ttl: req.body.ttlMs } : {},
      );
      return leaseOut(lease);
    },
  );
  app.delete(
    '/v1/sequences/:model/:id',
    {
      config: { scope: 'enqueue' },
      schema: {
        summary: 'Release a correlation ID',
        tags: ['sequences'],
        params: seqParams,
        body: z.strictObject({ token: z.string().min(1).max(200) }),
      },
    },
    async (req) => ids.release({ model: req.params.model, id: parseId(req.params.id), token: req.body.token }),
  );

  await mountDashboard(app, ctx);
  return app;
}

const artifactSchema = z.object({ id: z.string(), digest: z.string(), size: z.number() });
const enqueuedSchema = z.object({
  id: z.string(),
  queue: z.string(),
  state: z.string(),
  deduplicated: z.boolean(),
});

export { artifactId };

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
  await app.listen({ host, port: options.port ?? 8080 });
  const { port } = app.server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${shown}:${port}`, app, close: () => app.close() };
}
