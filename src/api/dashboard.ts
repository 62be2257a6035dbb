/**
 * The dashboard: server-rendered HTML over the same data as the API, a little vanilla JavaScript for live parts
 * (the jobs table polls `/v1/jobs`, the job page follows `/v1/jobs/{id}/events`), and Bull Board at `/queues`.
 * Authentication is the API's tokens: the login form sets an HttpOnly, SameSite=Strict session cookie; state changes
 * from the page are `fetch` calls carrying the `x-msb-csrf` header, which a cross-site form cannot send.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isMsbError } from '../errors.js';
import type { JobInfo, WorkerInfo } from '../jobs/index.js';
import { ModelStore, renderConfig } from '../store/index.js';
import type { ApiContext } from './server.js';
import { CSRF_HEADER, SESSION_COOKIE } from './server.js';
import { allows, type Principal, type Scope } from './tokens.js';

const esc = (v: unknown) =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#e5e7eb;text-decoration:none}header .who{margin-left:auto;color:#9ca3af}
main{padding:16px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:16px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}.warn{color:#b45309;font-weight:600}.bad{color:#b91c1c}
.bar{background:#e5e7eb;border-radius:4px;height:16px;width:300px;overflow:hidden}
.bar>div{background:#2563eb;height:100%;transition:width .2s}
pre{background:#111827;color:#e5e7eb;padding:8px;overflow:auto;max-height:300px}
button{padding:4px 12px}form.inline{display:inline}
`;

const SCRIPT = `
const csrf = { 'x-msb-csrf': '1' };
async function act(url) {
  const r = await fetch(url, { method: 'POST', headers: csrf, credentials: 'same-origin' });
  const body = await r.json().catch(() => ({}));
  document.getElementById('message').textContent = r.ok ? 'done' : (body.detail || r.statusText);
}
function esc(s) { return String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'})[c]); }
function pct(p) { return p && typeof p === 'object' && typeof p.percent === 'number' ? p.percent : 0; }
function followJob(id) {
  const es = new EventSource('/v1/jobs/' + id + '/events');
  const set = (k, v) => { const e = document.getElementById(k); if (e) e.textContent = v; };
  es.addEventListener('progress', (e) => {
    const p = JSON.parse(e.data);
    document.getElementById('bar').style.width = pct(p) + '%';
    set('percent', pct(p) + '%'); set('phase', p && p.phase ? p.phase : '');
  });
  es.addEventListener('state', (e) => {
    const s = JSON.parse(e.data);
    set('state', s.state); set('reason', s.failedReason || s.unserved || '');
    if (s.result) document.getElementById('result').innerHTML = s.result.model
      ? '<a href="/models/' + encodeURIComponent(s.result.model) + '">' + esc(s.result.model) + '</a> version ' + esc(s.result.version)
      : esc(JSON.stringify(s.result));
  });
  es.addEventListener('log', (e) => { document.getElementById('logs').textContent += JSON.parse(e.data) + '\\n'; });
  es.addEventListener('end', () => es.close());
}
async function pollJobs(query) {
  const tick = async () => {
    const r = await fetch('/v1/jobs' + query, { credentials: 'same-origin' });
    if (r.ok) {
      const { jobs } = await r.json();
      document.getElementById('jobs').innerHTML = jobs.map((j) =>
        '<tr data-job="' + esc(j.id) + '"><td><a href="/jobs/' + esc(j.id) + '">' + esc(j.id.slice(0, 12)) + '</a></td><td>' +
        esc(j.kind) + '</td><td>' + esc(j.queue) + '</td><td>' + esc(j.model || '') + '</td><td class="state">' + esc(j.state) +
        '</td><td><div class="bar"><div style="width:' + pct(j.progress) + '%"></div></div><span class="pct">' + pct(j.progress) +
        '%</span></td><td>' + esc(j.failedReason || j.unserved || '') + '</td></tr>').join('');
    }
    setTimeout(tick, 1000);
  };
  tick();
}
`;

function page(title: string, who: Principal | undefined, body: string, script = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · msb</title>
<link rel="stylesheet" href="/ui/style.css"><script src="/ui/app.js"></script></head><body>
<header><strong>msb</strong><a href="/">Overview</a><a href="/jobs">Jobs</a><a href="/models">Store</a><a href="/queues">Queues</a><a href="/docs">API</a>
${who ? `<span class="who">${esc(who.name)} (${esc(who.scopes.join(', '))})</span><form class="inline" method="post" action="/logout"><button>Log out</button></form>` : ''}</header>
<main><h1>${esc(title)}</h1><p id="message" role="status"></p>${body}</main>${script ? `<script>${script}</script>` : ''}</body></html>`;
}

function loginPage(error?: string): string {
  return page(
    'Log in',
    undefined,
    `${error ? `<p class="bad">${esc(error)}</p>` : ''}<form method="post" action="/login">
<label>Token <input type="password" name="token" autocomplete="current-password" size="50" required autofocus></label>
<button type="submit">Log in</button></form><p>Create a token with <code>msb token add NAME --scopes read,enqueue --tokens FILE</code>.</p>`,
  );
}

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

export async function mountDashboard(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  /** The principal for a page, or answers with the login form (401) / a refusal (403). */
  const gate = async (req: FastifyRequest, reply: FastifyReply, scope: Scope = 'read') => {
    const p = await ctx.principalOf(req);
    if (!p) {
      reply.code(401).type('text/html').send(loginPage());
      return undefined;
    }
    if (!allows(p, scope)) {
      reply
        .code(403)
        .type('text/html')
        .send(page('Forbidden', p, `<p>Token ${esc(p.name)} lacks the ${scope} scope.</p>`));
      return undefined;
    }
    return p;
  };
  const html = (reply: FastifyReply, body: string) => reply.type('text/html; charset=utf-8').send(body);
  const hidden = { schema: { hide: true } };

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
    const origin = req.headers.origin;
    if (origin && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) {
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

  app.get('/', hidden, async (req, reply) => {
    const p = await gate(req, reply);
    if (!p) return;
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
    return html(reply, page('Overview', p, body));
  });

  app.get('/jobs', hidden, async (req, reply) => {
    const p = await gate(req, reply);
    if (!p) return;
    const q = req.query as Record<string, string>;
    const params = new URLSearchParams();
    for (const k of ['state', 'queue', 'model']) if (q[k]) params.set(k, q[k]);
    const query = params.size ? `?${params}` : '';
    const body = `<form method="get"><label>state <select name="state"><option value="">any</option>${['waiting', 'active', 'delayed', 'completed', 'failed'].map((s) => `<option${q.state === s ? ' selected' : ''}>${s}</option>`).join('')}</select></label>
<label>queue <input name="queue" value="${esc(q.queue)}"></label> <label>model <input name="model" value="${esc(q.model)}"></label> <button>Filter</button></form>
<table><thead><tr><th>id</th><th>kind</th><th>queue</th><th>model</th><th>state</th><th>progress</th><th>note</th></tr></thead><tbody id="jobs"></tbody></table>`;
    return html(reply, page('Jobs', p, body, `pollJobs(${JSON.stringify(query)})`));
  });

  app.get('/jobs/:id', hidden, async (req, reply) => {
    const p = await gate(req, reply);
    if (!p) return;
    const id = (req.params as { id: string }).id;
    const info = /^[0-9a-f]{64}$/.test(id) ? await ctx.client.get(id) : undefined;
    if (!info)
      return reply
        .code(404)
        .type('text/html')
        .send(page('No such job', p, `<p>No job ${esc(id)}.</p>`));
    const canAct = allows(p, 'enqueue');
    const buttons = canAct
      ? `<button id="cancel" onclick="act('/v1/jobs/${esc(id)}/cancel')">Cancel</button> <button id="retry" onclick="act('/v1/jobs/${esc(id)}/retry')">Retry</button>`
      : '';
    const body = `<table><tr><th>id</th><td>${esc(id)}</td></tr><tr><th>kind</th><td>${esc(info.kind)}</td></tr>
<tr><th>queue</th><td>${esc(info.queue)}</td></tr><tr><th>model</th><td>${esc(info.model ?? '')}</td></tr>
<tr><th>state</th><td id="state">${esc(info.state)}</td></tr><tr><th>progress</th><td><div class="bar"><div id="bar" style="width:0%"></div></div> <span id="percent"></span> <span id="phase"></span></td></tr>
<tr><th>note</th><td id="reason"></td></tr><tr><th>result</th><td id="result"></td></tr></table>${buttons}
<h2>Log</h2><pre id="logs"></pre>`;
    return html(reply, page(`Job ${id.slice(0, 12)}`, p, body, `followJob(${JSON.stringify(id)})`));
  });

  app.get('/models', hidden, async (req, reply) => {
    const p = await gate(req, reply);
    if (!p) return;
    const store = await ModelStore.open(ctx.storeRoot);
    const rows: string[] = [];
    for (const name of await store.listModels()) {
      try {
        const m = await store.getModel(name);
        rows.push(
          `<tr><td><a href="/models/${encodeURIComponent(name)}">${esc(name)}</a></td><td>${esc(m.config.platform ?? m.config.backend)}</td><td>${(await m.listVersions()).join(', ')}</td></tr>`,
        );
      } catch (err) {
        rows.push(
          `<tr><td>${esc(name)}</td><td colspan="2" class="bad">${esc(isMsbError(err) ? err.message : err)}</td></tr>`,
        );
      }
    }
    const problems = await store.validate();
    const body = `<table><tr><th>model</th><th>platform</th><th>versions</th></tr>${rows.join('')}</table>
<h2>Validation</h2>${problems.length ? `<table><tr><th>path</th><th>severity</th><th>problem</th></tr>${problems.map((x) => `<tr><td>${esc(x.path)}</td><td>${esc(x.severity)}</td><td>${esc(x.message)}</td></tr>`).join('')}</table>` : '<p>valid: Triton would load every model</p>'}`;
    return html(reply, page('Store', p, body));
  });

  app.get('/models/:name', hidden, async (req, reply) => {
    const p = await gate(req, reply);
    if (!p) return;
    const store = await ModelStore.open(ctx.storeRoot);
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
    const problems = (await store.validate()).filter(
      (x) => x.path === model.name || x.path.startsWith(`${model.name}/`),
    );
    const body = `<h2>Versions</h2><table><tr><th>version</th><th>files</th><th>published</th><th>job</th></tr>${info.versions
      .map(
        (v) =>
          `<tr><td>${v.version}</td><td>${v.files.map((f) => `${esc(f.path)} (${f.size} B)`).join('<br>')}</td><td>${esc(v.publishedAt ?? '')}</td><td>${v.publishKey ? `<a href="/jobs/${esc(v.publishKey)}">${esc(v.publishKey.slice(0, 12))}</a>` : ''}</td></tr>`,
      )
      .join('')}</table>
<h2>Labels</h2>${info.labels.length ? info.labels.map((l) => `<p>${esc(l.output)}: ${esc(l.file)} (${l.lines ?? '?'} lines)</p>`).join('') : '<p>none</p>'}
<h2>Problems</h2>${problems.length ? problems.map((x) => `<p class="${x.severity === 'error' ? 'bad' : 'warn'}">${esc(x.path)}: ${esc(x.message)}</p>`).join('') : '<p>none</p>'}
<h2>config.pbtxt</h2><pre>${esc(renderConfig(model.name, info.config))}</pre>`;
    return html(reply, page(`Model ${model.name}`, p, body));
  });

  mountBullBoard(app, ctx);
}

/**
 * Bull Board at /queues: any token with `read` may look; its actions (non-GET requests) need `admin`, and for other
 * tokens the board is shown read-only (no action buttons).
 *
 * Bull Board (its API, UI assets, view engine and static-file plugins: about 10 MiB resident) is loaded on the
 * first request to /queues, not at start: most requests never need it, and `msb serve` idles under its memory
 * target without it. Fastify cannot add routes once listening, so Bull Board lives in its own small Fastify
 * instance, built on first use; this instance authenticates the request, then hands the raw request to it
 * (`routing`, Fastify's public entry into its router). The body is left unread here for Bull Board to parse.
 */
function mountBullBoard(app: FastifyInstance, ctx: ApiContext): void {
  // Who each request handed to Bull Board is, for its onSend hook (same IncomingMessage in both instances).
  const principals = new WeakMap<object, Principal>();
  let board: Promise<FastifyInstance> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const load = async (): Promise<FastifyInstance> => {
    const [{ default: Fastify }, { createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = await Promise.all([
      import('fastify'),
      import('@bull-board/api'),
      import('@bull-board/api/bullMQAdapter'),
      import('@bull-board/fastify'),
    ]);
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath('/queues');
    // @bull-board/fastify pins its own patch release of @bull-board/api; the adapter contract is the same.
    const bull = createBullBoard({ queues: [], serverAdapter: serverAdapter as never });
    let known = '';
    const refresh = async () => {
      const names = (await ctx.client.queueStats()).map((q) => q.name);
      if (names.join() === known) return;
      known = names.join();
      bull.replaceQueues(names.map((n) => new BullMQAdapter(ctx.client.bullQueue(n))));
    };
    await refresh().catch(() => {});
    timer = setInterval(() => void refresh().catch(() => {}), 5000);
    timer.unref();
    const inner = Fastify({ bodyLimit: ctx.options.bodyLimit ?? 1024 * 1024 });
    // Bull Board's UI hides its action buttons for a queue whose `readOnlyMode` is set (@bull-board/api's queue
    // adapter option). That flag is per adapter, not per request, so for a token without `admin` the queue list it
    // reads (GET /queues/api/queues) is answered with every queue marked read-only; the actions themselves are
    // refused by the onRequest hook whatever the page shows.
    inner.addHook('onSend', async (req, _reply, payload) => {
      const p = principals.get(req.raw);
      if (!p || allows(p, 'admin') || typeof payload !== 'string') return payload;
      if (req.method !== 'GET' || req.url.split('?')[0] !== '/queues/api/queues') return payload;
      const body = JSON.parse(payload) as { queues?: Record<string, unknown>[] };
      for (const q of body.queues ?? []) {
        q.readOnlyMode = true;
        q.allowRetries = false;
        q.allowCompletedRetries = false;
      }
      return JSON.stringify(body);
    });
    await inner.register(serverAdapter.registerPlugin() as never, { prefix: '/queues' });
    await inner.ready();
    return inner;
  };
  app.addHook('onClose', async () => {
    clearInterval(timer);
    if (board) await (await board.catch(() => undefined))?.close();
  });

  void app.register(async (scope) => {
    // Bull Board parses the body itself: nothing here reads it.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    scope.addHook('onRequest', async (req, reply) => {
      const p = await ctx.principalOf(req);
      const unsafe = req.method !== 'GET' && req.method !== 'HEAD';
      if (!p) return reply.code(401).type('text/html').send(loginPage());
      if (!allows(p, unsafe ? 'admin' : 'read')) {
        return reply.code(403).type('application/problem+json').send({
          type: 'about:blank',
          title: 'Forbidden',
          status: 403,
          code: 'MSB_API_FORBIDDEN',
          detail: 'queue actions need the admin scope',
        });
      }
      if (unsafe && req.viaCookie && req.headers[CSRF_HEADER] !== '1' && !sameOrigin(req)) {
        return reply.code(403).send({ code: 'MSB_API_FORBIDDEN', detail: 'cross-site request refused' });
      }
      principals.set(req.raw, p);
    });
    const handOver = async (req: FastifyRequest, reply: FastifyReply) => {
      board ??= load().catch((err) => {
        board = undefined;
        throw err;
      });
      const inner = await board;
      reply.hijack();
      inner.routing(req.raw, reply.raw);
    };
    scope.all('/queues', { schema: { hide: true } }, handOver);
    scope.all('/queues/*', { schema: { hide: true } }, handOver);
  });
}

/** Bull Board's own requests come from its page: same origin (SameSite=Strict already keeps other sites' out). */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  return origin === `http://${req.headers.host}` || origin === `https://${req.headers.host}`;
}
