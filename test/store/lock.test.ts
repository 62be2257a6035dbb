import assert from 'node:assert/strict';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { acquireLock } from '../../src/store/lock.js';
import { tempDir } from '../helpers/tmp.js';

const holder = (host: string, pid: number) =>
  JSON.stringify({ pid, host, nonce: 'feedfacefeedface', acquiredAt: new Date().toISOString() });

test('a held lock makes the next writer wait until it is released', async () => {
  const lockPath = path.join(await tempDir(), 'm.lock');
  const first = await acquireLock(lockPath);
  let second = false;
  const waiting = acquireLock(lockPath).then((l) => {
    second = true;
    return l;
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(second, false);
  await first.release();
  await (await waiting).release();
  assert.deepEqual(await readdir(path.dirname(lockPath)), []);
});

test('a live holder on another host blocks until its lease runs out; then the lock is taken over', async () => {
  const lockPath = path.join(await tempDir(), 'm.lock');
  await writeFile(lockPath, holder('another-host', process.pid));
  await assert.rejects(acquireLock(lockPath, { waitMs: 300, leaseMs: 60_000 }), (err: unknown) =>
    isMsbError(err, 'MSB_STORE_LOCK_TIMEOUT'),
  );
  const old = new Date(Date.now() - 120_000);
  await utimes(lockPath, old, old);
  const lock = await acquireLock(lockPath, { waitMs: 1_000, leaseMs: 60_000 });
  await lock.release();
});

test('a holder whose pid is dead on this host is taken over at once', async () => {
  const dir = await tempDir();
  const lockPath = path.join(dir, 'm.lock');
  // pid 2^22 + 1 is above Linux's pid_max ceiling, so no process has it.
  await writeFile(lockPath, holder(os.hostname(), 4_194_305));
  const started = Date.now();
  const lock = await acquireLock(lockPath, { waitMs: 5_000, leaseMs: 60_000 });
  assert.ok(Date.now() - started < 1_000);
  await lock.release();
  assert.deepEqual(await readdir(dir), []);
});
