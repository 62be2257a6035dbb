/**
 * The dashboard: server-rendered HTML over the same data as the API, a little vanilla JavaScript for live parts
 * (the jobs table polls `/v1/jobs`, the job page follows `/v1/jobs/{id}/events`), and Bull Board at `/queues`.
 * Authentication is the API's tokens: the login form sets an HttpOnly, SameSite=Strict session cookie; state changes
 * from the page are `fetch` calls carrying the `x-msb-csrf` header, which a cross-site form cannot send.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isMsbError } from '../errors.js';
import type { JobInfo, WorkerInfo } from '../jobs/index.js';
import { ModelStore, problems, renderConfig, summary } from '../store/index.js';
import { sameOrigin } from './auth.js';
import { type RouteOptions, SESSION_COOKIE } from './context.js';
import { esc, loginPage, page, SCRIPT, STYLE } from './pages.js';
import { JOB_STATES } from './routes/jobs.js';
import { allows, type Principal } from './tokens.js';

function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function jobRow(j: JobInfo): string {
  const p = j.progress as { percent?: number } | undefined;
  return `<tr data-job="${esc(j.id)}"><td><a href="/jobs/${esc(j.id)}">${esc(j.id.slice(0, 12))}</a></td><td>${esc(j.kind)}</td><td>${esc(j.queue)}</td><td>${esc(j.model ?? '')}</td><td class="state">${esc(j.state)}</td><td>${typeof p?.percent === 'number' ? `${p.percent}%` : ''}</td><td>${esc(j.failedReason ?? j.unserved ?? '')}</td></tr>`;
}

/** Workers grouped by the GPU target they build for (import-only workers: `cpu`). */
function pools(workers: WorkerInfo[]): Map<string, WorkerInfo[]> {
  const byTarget = new Map<string, WorkerInfo[]>();
  for (const w of workers) {
    const target = w.identity.tensorrt
      ? `TensorRT ${w.identity.tensorrt} on sm ${w.identity.computeCapability}`
      : 'cpu (imports only)';
    byTarget.set(target, [...(byTarget.get(target) ?? []), w]);
  }
  return byTarget;
}

/** What a page shows instead of its content when it cannot be served: the login form, a refusal, Redis down. */
function pageError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const p = req.principal;
  const html = (status: number, body: string) => reply.code(status).type('text/html; charset=utf-8').send(body);
  if (hasZodFastifySchemaValidationErrors(err)) {
    const why = err.validation.map((v) => `${v.instancePath.replace(/^\//, '') || 'query'}: ${v.message}`).join('; ');
    return html(400, page('Bad request', p, `<p class="bad">invalid request: ${esc(why)}</p>`));
  }
  if (isMsbError(err)) {
    if (err.code === 'MSB_API_UNAUTHORIZED') return html(401, loginPage());
    if (err.code === 'MSB_API_FORBIDDEN') return html(403, page('Forbidden', p, `<p>${esc(err.message)}.</p>`));
    if (err.code === 'MSB_REDIS_UNREACHABLE')
      return html(
        503,
        page(
          'Redis unreachable',
          p,
          `<p class="bad">${esc(err.message)}</p><p>Jobs, workers and queues live in Redis; this page comes back once it answers. The <a href="/models">store</a> does not need it.</p>`,
        ),
      );
  }
  throw err;
}

export const dashboardRoutes: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.setErrorHandler(pageError);
  const html = (reply: FastifyReply, body: string) => reply.type('text/html; charset=utf-8').send(body);
  const hidden = { schema: { hide: true } };
  const read = { config: { scope: 'read' }, schema: { hide: true } } as const;
  const readRedis = { config: { scope: 'read', redis: true }, schema: { hide: true } } as const;
  const who = (req: FastifyRequest) => req.principal as Principal;

  app.get('/ui/style.css', hidden, (_req, reply) => reply.type('text/css').send(STYLE));
  app.get('/ui/app.js', hidden, (_req, reply) => reply.type('text/javascript').send(SCRIPT));

  // Form posts (login) only: a small urlencoded body, parsed with the platform's parser.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 4096 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.get('/login', hidden, (_req, reply) => html(reply, loginPage()));
  app.post('/login', hidden, async (req, reply) => {
    // A cross-site page cannot log a browser in with someone else's token.
    if (req.headers.origin && !sameOrigin(req)) {
      return reply.code(403).type('text/html').send(loginPage('cross-site login refused'));
    }
    const token = String((req.body as Record<string, unknown> | undefined)?.token ?? '');
    const p = ctx.tokens && token.length <= 256 ? await ctx.tokens.verify(token) : undefined;
    if (!p) return reply.code(401).type('text/html').send(loginPage('unknown token'));
    const secure = req.protocol === 'https' ? '; Secure' : '';
    return reply
      .header(
        'set-cookie',
        `${SESSION_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${12 * 3600}${secure}`,
      )
      .redirect('/', 303);
  });
  app.post('/logout', hidden, (_req, reply) =>
    reply
      .header('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`)
      .redirect('/login', 303),
  );

  app.get('/', readRedis, async (req, reply) => {
    const [workers, queues, jobs] = await Promise.all([
      ctx.client.workers(),
      ctx.client.queueStats(),
      ctx.client.list(),
    ]);
    const now = Date.now();
    const poolRows = [...pools(workers)]
      .map(
        ([target, ws]) =>
          `<h3>${esc(target)}</h3><table class="workers"><tr><th>worker</th><th>host</th><th>GPU</th><th>TensorRT</th><th>queues</th><th>current job</th><th>heartbeat</th></tr>${ws
            .map(
              (w) =>
                `<tr class="worker"><td>${esc(w.id.slice(0, 8))}</td><td>${esc(w.host)}</td><td>${esc(w.identity.computeCapability ? `sm ${w.identity.computeCapability}` : 'none')}</td><td>${esc(w.identity.tensorrtVersion ?? w.identity.reason ?? '')}</td><td>${esc(w.queues.join(', '))}</td><td>${(w.jobs ?? []).map((j) => `<a href="/jobs/${esc(j)}">${esc(j.slice(0, 12))}</a>`).join(' ')}</td><td>${w.heartbeatAt ? age((now - Date.parse(w.heartbeatAt)) / 1000) : ''} ago</td></tr>`,
            )
            .join('')}</table>`,
      )
      .join('');
    const queueRows = queues
      .map(
        (q) =>
          `<tr><td>${esc(q.name)}</td><td>${q.counts.waiting ?? 0}</td><td>${q.counts.active ?? 0}</td><td>${q.counts.failed ?? 0}</td><td>${age(q.oldestWaitingSeconds)}</td><td>${q.served ? 'yes' : `<span class="warn">no live worker serves this queue</span>`}</td></tr>`,
      )
      .join('');
    const builds = jobs.filter((j) => j.result?.buildSeconds !== undefined).slice(0, 10);
    const body = `<h2>GPU pools</h2>${poolRows || '<p class="warn">no live workers</p>'}
<h2>Queues</h2><table><tr><th>queue</th><th>waiting</th><th>active</th><th>failed</th><th>oldest waiting</th><th>served</th></tr>${queueRows}</table>
<h2>Recent jobs</h2><table><tr><th>id</th><th>kind</th><th>queue</th><th>model</th><th>state</th><th>progress</th><th>note</th></tr>${jobs.slice(0, 10).map(jobRow).join('')}</table>
<h2>Build times</h2>${builds.length ? `<table><tr><th>model</th><th>queue</th><th>seconds</th><th>plan reused</th></tr>${builds.map((j) => `<tr><td>${esc(j.result?.model)}</td><td>${esc(j.queue)}</td><td>${j.result?.buildSeconds?.toFixed(1)}</td><td>${j.result?.reusedPlan ? 'yes' : 'no'}</td></tr>`).join('')}</table>` : '<p>no builds yet</p>'}`;
    return html(reply, page('Overview', who(req), body));
  });

  // The filter's query is checked as the API checks its own (`?state=bogus` is a 400, not an empty table); the
  // form's "any" sends an empty value.
  const anyOr = <T extends z.ZodTypeAny>(t: T) => z.union([z.literal(''), t]).optional();
  const jobsPage = z.strictObject({
    state: anyOr(z.enum(JOB_STATES)),
    queue: anyOr(z.string().max(200)),
    model: anyOr(z.string().max(1024)),
  });
  // Not `redis`: the page reads nothing from Redis itself; its table's polls say when Redis is unreachable.
  app.get('/jobs', { ...read, schema: { hide: true, querystring: jobsPage } }, async (req, reply) => {
    const q = req.query as z.infer<typeof jobsPage>;
    const params = new URLSearchParams();
    for (const k of ['state', 'queue', 'model'] as const) if (q[k]) params.set(k, q[k] as string);
    const query = params.size ? `?${params}` : '';
    const body = `<form method="get"><label>state <select name="state"><option value="">any</option>${JOB_STATES.map((s) => `<option${q.state === s ? ' selected' : ''}>${s}</option>`).join('')}</select></label>
<label>queue <input name="queue" value="${esc(q.queue)}"></label> <label>model <input name="model" value="${esc(q.model)}"></label> <button>Filter</button></form>
<table><thead><tr><th>id</th><th>kind</th><th>queue</th><th>model</th><th>state</th><th>progress</th><th>note</th></tr></thead><tbody id="jobs"></tbody></table>`;
    return html(reply, page('Jobs', who(req), body, `pollJobs(${JSON.stringify(query)})`));
  });

  app.get('/jobs/:id', readRedis, async (req, reply) => {
    const p = who(req);
    const id = (req.params as { id: string }).id;
    const info = /^[0-9a-f]{64}$/.test(id) ? await ctx.client.get(id) : undefined;
    if (!info)
      return reply
        .code(404)
        .type('text/html')
        .send(page('No such job', p, `<p>No job ${esc(id)}.</p>`));
    const finished = info.state === 'completed' || info.state === 'failed';
    // The buttons follow the job's state as it changes (enableActions in the page's script).
    const buttons = allows(p, 'enqueue')
      ? `<button id="cancel" onclick="act('${esc(id)}', 'cancel')"${finished ? ' disabled' : ''}>Cancel</button> <button id="retry" onclick="act('${esc(id)}', 'retry')"${info.state === 'failed' ? '' : ' disabled'}>Retry</button>`
      : '';
    const body = `<table><tr><th>id</th><td>${esc(id)}</td></tr><tr><th>kind</th><td>${esc(info.kind)}</td></tr>
<tr><th>queue</th><td>${esc(info.queue)}</td></tr><tr><th>model</th><td>${esc(info.model ?? '')}</td></tr>
<tr><th>state</th><td id="state">${esc(info.state)}</td></tr><tr><th>progress</th><td><div class="bar"><div id="bar" style="width:0%"></div></div> <span id="percent"></span> <span id="phase"></span></td></tr>
<tr><th>note</th><td id="reason"></td></tr><tr><th>result</th><td id="result"></td></tr></table>${buttons}
<h2>Log</h2><pre id="logs"></pre>`;
    return html(reply, page(`Job ${id.slice(0, 12)}`, p, body, `followJob(${JSON.stringify(id)})`));
  });

  app.get('/models', read, async (req, reply) => {
    const store = await ModelStore.open(ctx.storeRoot, { readOnly: true });
    const rows = (await summary(store)).map((m) =>
      m.error === undefined
        ? `<tr><td><a href="/models/${encodeURIComponent(m.name)}">${esc(m.name)}</a></td><td>${esc(m.platform ?? m.backend)}</td><td>${m.versions.join(', ')}</td></tr>`
        : `<tr><td>${esc(m.name)}</td><td colspan="2" class="bad">${esc(m.error)}</td></tr>`,
    );
    const found = await store.validate(await ctx.checks(store));
    const body = `<table><tr><th>model</th><th>platform</th><th>versions</th></tr>${rows.join('')}</table>
<h2>Validation</h2>${found.length ? `<table><tr><th>path</th><th>severity</th><th>problem</th></tr>${found.map((x) => `<tr><td>${esc(x.path)}</td><td>${esc(x.severity)}</td><td>${esc(x.message)}</td></tr>`).join('')}</table>` : '<p>valid: Triton would load every model</p>'}`;
    return html(reply, page('Store', who(req), body));
  });

  app.get('/models/:name', read, async (req, reply) => {
    const p = who(req);
    const store = await ModelStore.open(ctx.storeRoot, { readOnly: true });
    let model: Awaited<ReturnType<typeof store.getModel>>;
    try {
      model = await store.getModel((req.params as { name: string }).name);
    } catch (err) {
      if (!isMsbError(err)) throw err;
      return reply
        .code(404)
        .type('text/html')
        .send(page('No such model', p, `<p>${esc(err.message)}</p>`));
    }
    const info = await model.describe();
    const found = await problems(store, model.name, await ctx.checks(store));
    const body = `<h2>Versions</h2><table><tr><th>version</th><th>files</th><th>published</th><th>job</th></tr>${info.versions
      .map(
        (v) =>
          `<tr><td>${v.version}</td><td>${v.files.map((f) => `${esc(f.path)} (${f.size} B)`).join('<br>')}</td><td>${esc(v.publishedAt ?? '')}</td><td>${v.publishKey ? `<a href="/jobs/${esc(v.publishKey)}">${esc(v.publishKey.slice(0, 12))}</a>` : ''}</td></tr>`,
      )
      .join('')}</table>
<h2>Labels</h2>${info.labels.length ? info.labels.map((l) => `<p>${esc(l.output)}: ${esc(l.file)} (${l.lines ?? '?'} lines)</p>`).join('') : '<p>none</p>'}
<h2>Problems</h2>${found.length ? found.map((x) => `<p class="${x.severity === 'error' ? 'bad' : 'warn'}">${esc(x.path)}: ${esc(x.message)}</p>`).join('') : '<p>none</p>'}
<h2>config.pbtxt</h2><pre>${esc(renderConfig(model.name, info.config))}</pre>`;
    return html(reply, page(`Model ${model.name}`, p, body));
  });
};
