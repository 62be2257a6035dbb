/**
 * The HTML the dashboard and Bull Board's login share: the page frame, its style and script, the login form. No
 * template engine: a handful of pages, every value through {@link esc}.
 */
import type { Principal } from './tokens.js';

export const esc = (v: unknown) =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

export const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:8px 16px;display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center}
header a{color:#e5e7eb;text-decoration:none}header .who{margin-left:auto;color:#9ca3af}
main{padding:16px;max-width:1200px;overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:16px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}.warn{color:#b45309;font-weight:600}.bad{color:#b91c1c}
.bar{background:#e5e7eb;border-radius:4px;height:16px;width:300px;overflow:hidden}
.bar>div{background:#2563eb;height:100%;transition:width .2s}
pre{background:#111827;color:#e5e7eb;padding:8px;overflow:auto;max-height:300px}
button{padding:4px 12px}form.inline{display:inline}
`;

export const SCRIPT = `
const csrf = { 'x-msb-csrf': '1' };
/** Which actions a job in state s allows: the client's rules (cancel until it ends, retry once it failed). */
function enableActions(s) {
  const c = document.getElementById('cancel'), r = document.getElementById('retry');
  if (c) c.disabled = ['completed', 'failed', 'removed'].includes(s);
  if (r) r.disabled = s !== 'failed';
}
let cancelled = false;
async function act(id, action) {
  const state = document.getElementById('state').textContent;
  const r = await fetch('/v1/jobs/' + id + '/' + action, { method: 'POST', headers: csrf, credentials: 'same-origin' });
  const body = await r.json().catch(() => ({}));
  if (r.ok && action === 'cancel') {
    cancelled = true;
    if (state !== 'active') {
      // A waiting job is removed from its queue; the 'removed' state may have arrived before this answer.
      document.getElementById('state').textContent = 'cancelled';
      enableActions('removed');
    } else {
      // A running job fails as cancelled, and its 'failed' state (which allows Retry) may already have arrived
      // before this answer: only Cancel is settled here, the state event sets the rest.
      const c = document.getElementById('cancel');
      if (c) c.disabled = true;
    }
  }
  const said = action === 'cancel'
    ? (state === 'active' ? 'cancel requested: the build stops and the job fails as cancelled' : 'cancelled: removed from its queue before it ran')
    : 'queued again';
  document.getElementById('message').textContent = r.ok ? said : (body.detail || r.statusText);
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
    // A job cancelled before it ran is removed from its queue: say what happened, not BullMQ's word for it.
    set('state', s.state === 'removed' && cancelled ? 'cancelled' : s.state); enableActions(s.state);
    set('reason', s.failedReason || s.unserved || '');
    if (s.result) document.getElementById('result').innerHTML = s.result.model
      ? '<a href="/models/' + encodeURIComponent(s.result.model) + '">' + esc(s.result.model) + '</a> version ' + esc(s.result.version)
      : esc(JSON.stringify(s.result));
  });
  es.addEventListener('log', (e) => { document.getElementById('logs').textContent += JSON.parse(e.data) + '\\n'; });
  es.addEventListener('end', () => es.close());
}
async function pollJobs(query) {
  const message = document.getElementById('message');
  const tick = async () => {
    const r = await fetch('/v1/jobs' + query, { credentials: 'same-origin' }).catch(() => undefined);
    // The table keeps its last rows; the message says why they are not fresh (e.g. Redis unreachable) until they are.
    if (!r || !r.ok) {
      const body = r ? await r.json().catch(() => ({})) : {};
      message.textContent = (body.code === 'MSB_REDIS_UNREACHABLE' ? 'Redis unreachable: ' : '') + (body.detail || (r ? r.statusText : 'the server does not answer'));
      message.className = 'bad';
    } else {
      if (message.className === 'bad') { message.textContent = ''; message.className = ''; }
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

export function page(title: string, who: Principal | undefined, body: string, script = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)} · msb</title>
<link rel="stylesheet" href="/ui/style.css"><script src="/ui/app.js"></script></head><body>
<header><strong>msb</strong><a href="/">Overview</a><a href="/jobs">Jobs</a><a href="/models">Store</a><a href="/queues">Queues</a><a href="/docs">API</a>
${who ? `<span class="who">${esc(who.name)} (${esc(who.scopes.join(', '))})</span><form class="inline" method="post" action="/logout"><button>Log out</button></form>` : ''}</header>
<main><h1>${esc(title)}</h1><p id="message" role="status"></p>${body}</main>${script ? `<script>${script}</script>` : ''}</body></html>`;
}

export function loginPage(error?: string): string {
  return page(
    'Log in',
    undefined,
    `${error ? `<p class="bad">${esc(error)}</p>` : ''}<form method="post" action="/login">
<label>Token <input type="password" name="token" autocomplete="current-password" size="50" required autofocus></label>
<button type="submit">Log in</button></form><p>Create a token with <code>msb token add NAME --scopes read,enqueue --tokens FILE</code>.</p>`,
  );
}
