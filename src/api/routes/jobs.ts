/** `/v1/jobs`, `/v1/workers`, `/v1/queues`: conversion jobs over the jobs module's client, and who serves them. */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isRemoteSource, type JobInfo, jobSpecSchema } from '../../jobs/index.js';
import { checkBuildTarget, resolveRelease } from '../../release/index.js';
import { ModelStore } from '../../store/index.js';
import type { RouteOptions } from '../context.js';
import { ApiError } from '../errors.js';
import { followJob } from '../events.js';

const JOB_ID = z.string().regex(/^[0-9a-f]{64}$/, 'a job id: 64 hex digits');
/** The states `GET /v1/jobs?state=` filters on (the dashboard's filter offers the same). */
export const JOB_STATES = [
  'waiting',
  'delayed',
  'active',
  'completed',
  'failed',
  'prioritized',
  'waiting-children',
] as const;

const enqueuedSchema = z.object({
  id: z.string(),
  queue: z.string(),
  state: z.string(),
  deduplicated: z.boolean(),
});

/** The query of `GET /v1/jobs`; the dashboard's jobs page checks its own query with it too. */
export const jobsQuery = z.strictObject({
  state: z.enum(JOB_STATES).optional(),
  queue: z.string().max(200).optional(),
  model: z.string().max(1024).optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const jobRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { client, sourceRoots } = ctx;
  const read = { scope: 'read', redis: true } as const;
  const enqueue = { scope: 'enqueue', redis: true } as const;

  /** The spec's source as workers will read it: artifacts by their storage location, paths under a source root. */
  const resolveSource = async (source: string): Promise<{ path: string; sourceDigest?: string }> => {
    if (source.startsWith('artifact:')) {
      const { hex } = await ctx.findArtifact(source);
      return { path: ctx.artifacts.source(hex), sourceDigest: hex };
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
      config: enqueue,
      schema: {
        summary: 'Enqueue a conversion job (import, build, inspect)',
        tags: ['jobs'],
        body: jobSpecSchema,
        response: { 202: enqueuedSchema },
      },
    },
    async (req, reply) => {
      if (req.body.kind === 'build') {
        // A build for another TensorRT than the release served would publish a plan Triton cannot load. The store
        // is read (for its default release) only when the server names none.
        let release = ctx.options.triton === undefined ? undefined : resolveRelease(ctx.options.triton);
        if (!release) {
          const store = await ModelStore.open(ctx.storeRoot, { readOnly: true });
          try {
            release = (await ctx.checks(store)).release;
          } finally {
            await store.close();
          }
        }
        if (release) checkBuildTarget(release, req.body.target.tensorrt);
      }
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
      config: read,
      schema: { summary: 'Jobs, newest first, paged', tags: ['jobs'], querystring: jobsQuery },
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
    { config: read, schema: { summary: 'One job', tags: ['jobs'], params: jobParams } },
    async (req) => getJob(req.params.id),
  );
  app.get(
    '/v1/jobs/:id/events',
    {
      config: read,
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
      await followJob(client, info, from, req.raw, reply.raw, ctx.options.keepAliveMs ?? 15_000);
    },
  );
  // Cancel and retry: the client's own state rules (409 when the job is in the wrong state).
  for (const [action, summary, run] of [
    ['cancel', 'Cancel a job', (id: string) => client.cancel(id)],
    ['retry', 'Run a failed job again', (id: string) => client.retry(id)],
  ] as const) {
    app.post(
      `/v1/jobs/:id/${action}`,
      { config: enqueue, schema: { summary, tags: ['jobs'], params: jobParams } },
      async (req, reply) => {
        await run(req.params.id);
        return reply.code(202).send({ id: req.params.id, action });
      },
    );
  }

  app.get('/v1/workers', { config: read, schema: { summary: 'Live workers', tags: ['workers'] } }, async () => {
    const now = Date.now();
    return {
      workers: (await client.workers()).map((w) => ({
        ...w,
        heartbeatAgeSeconds: w.heartbeatAt ? (now - Date.parse(w.heartbeatAt)) / 1000 : null,
      })),
    };
  });
  app.get(
    '/v1/queues',
    { config: read, schema: { summary: 'Queues with counts by state', tags: ['queues'] } },
    async () => ({ queues: await client.queueStats() }),
  );
};
