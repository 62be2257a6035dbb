import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter } from 'prom-client';
import { Registry, startOpsServer } from '../../src/server/index.js';

test('/healthz answers 200 or 503 with the details, /metrics the Prometheus text, anything else 404', async () => {
  const registry = new Registry();
  const jobs = new Counter({ name: 'msb_jobs_total', help: 'jobs', registers: [registry] });
  jobs.inc(3);
  let healthy = true;
  const server = await startOpsServer({ port: 0, registry, health: () => ({ ok: healthy, queues: ['msb-import'] }) });
  try {
    const ok = await fetch(`${server.url}/healthz`);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { ok: true, queues: ['msb-import'] });
    healthy = false;
    assert.equal((await fetch(`${server.url}/healthz`)).status, 503);
    const metrics = await fetch(`${server.url}/metrics`);
    assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(await metrics.text(), /^msb_jobs_total 3$/m);
    assert.equal((await fetch(`${server.url}/nope`)).status, 404);
  } finally {
    await server.close();
  }
});
