import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { DirectoryArtifactStore } from '../../src/api/artifacts.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'msb-artifacts-'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('a large upload (young-generation GCs every 8 MiB on the way) is stored whole under its digest', async () => {
  const store = new DirectoryArtifactStore(dir);
  await store.prepare();
  const block = randomBytes(1024 * 1024);
  const mib = 40;
  const hash = createHash('sha256');
  for (let i = 0; i < mib; i++) hash.update(block);
  const hex = hash.digest('hex');
  let minor = 0;
  const gcs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR)
        minor++;
    }
  });
  gcs.observe({ entryTypes: ['gc'] });
  const body = Readable.from(
    (function* () {
      // 64 KiB pieces, like the HTTP parser's
      for (let i = 0; i < mib * 16; i++) yield Buffer.from(block.subarray((i % 16) * 65536, (i % 16) * 65536 + 65536));
    })(),
  );
  const stored = await store.put(body, { limit: mib * 1024 * 1024, expectedLength: mib * 1024 * 1024 });
  await new Promise((r) => setImmediate(r));
  gcs.disconnect();
  assert.deepEqual(stored, {
    id: `artifact:sha256:${hex}`,
    digest: `sha256:${hex}`,
    size: mib * 1024 * 1024,
    created: true,
  });
  assert.equal(
    createHash('sha256')
      .update(await readFile(store.source(hex)))
      .digest('hex'),
    hex,
  );
  assert.deepEqual(await readdir(path.join(dir, '.tmp')), []);
  assert.ok(minor >= mib / 8 - 1, `${minor} young-generation GCs during a ${mib} MiB upload`);
});
