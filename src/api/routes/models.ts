/** `/v1/models`: the store, read-only (workers publish to it). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ModelStore, problems, renderConfig, summary } from '../../store/index.js';
import type { RouteOptions } from '../context.js';

const MODEL = z.string().min(1).max(1024);

export const modelRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const openStore = () => ModelStore.open(ctx.storeRoot, { readOnly: true });
  app.get(
    '/v1/models',
    { config: { scope: 'read' }, schema: { summary: 'Models of the store', tags: ['models'] } },
    async () => ({ models: await summary(await openStore()) }),
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
      return {
        ...info,
        pbtxt: renderConfig(model.name, info.config),
        problems: await problems(store, model.name, await ctx.checks(store)),
      };
    },
  );
};
