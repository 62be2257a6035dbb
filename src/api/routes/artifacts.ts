/** `/v1/artifacts`: model files uploaded as a stream, stored content-addressed, read back by id. */
import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from '../context.js';
import { ApiError } from '../errors.js';

const artifactSchema = z.object({ id: z.string(), digest: z.string(), size: z.number() });
const artifactParams = z.strictObject({ id: z.string().max(200) });

export const artifactRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { artifacts, maxArtifactBytes, idleMs } = ctx;
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
        // No body at all (no content type, so no parser ran): nothing to store (schemathesis found this a 500).
        if (req.body === undefined || req.body === null)
          throw new ApiError('MSB_API_INVALID_REQUEST', 'the body is the model file, and none was sent', {});
        const stored = await artifacts.put(req.body as Readable, {
          limit: maxArtifactBytes,
          idleMs,
          ...(length !== undefined ? { expectedLength: length } : {}),
        });
        const { created, ...body } = stored;
        return reply.code(created ? 201 : 200).send(body);
      },
    );
  });
  app.head(
    '/v1/artifacts/:id',
    { config: { scope: 'read' }, schema: { params: artifactParams, tags: ['artifacts'] } },
    async (req, reply) => {
      const a = await ctx.findArtifact(req.params.id);
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
      const a = await ctx.findArtifact(req.params.id);
      return reply
        .type('application/octet-stream')
        .header('content-length', a.size)
        .header('etag', `"${a.hex}"`)
        .send(artifacts.read(a.hex));
    },
  );
};
