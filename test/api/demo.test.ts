import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';

test('msb demo --keep: the dashboard it prints stays up with the live worker until Ctrl-C, then everything stops', async () => {
  const dir = await tempDir();
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      path.join(repoRoot, 'src', 'cli', 'main.ts'),
      'demo',
      '--keep',
      '--port',
      '0',
      '--store',
      path.join(dir, 'store'),
    ],
    { env: { ...process.env, REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no --keep line in time: ${out} ${err}`)), 90_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /--keep: the worker and the dashboard \((http:\/\/[^)]+)\) keep running/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  try {
    const overview = await fetch(url);
    assert.equal(overview.status, 200, 'loopback without tokens: open');
    assert.match(await overview.text(), /<tr class="worker">/);
    const models = (await (await fetch(`${url}v1/models`)).json()) as { models: { name: string }[] };
    assert.deepEqual(models.models.map((m) => m.name).sort(), ['identity', 'linear_classifier']);
    const jobs = (await (await fetch(`${url}v1/jobs?state=waiting`)).json()) as { jobs: { model: string }[] };
    assert.deepEqual(
      jobs.jobs.map((j) => j.model),
      ['linear_classifier_trt'],
    );
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0, err);
  await assert.rejects(fetch(url), 'the dashboard stopped with the demo');
});
