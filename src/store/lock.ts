import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import os from 'node:os';
import { StoreError } from './errors.js';
import { writeNewFile } from './fsutil.js';
import type { LockHandle, LockOptions } from './storage.js';
import { pausePoint } from './testhooks.js';

interface Holder {
  pid: number;
  host: string;
  nonce: string;
  acquiredAt: string;
}

/** Whether a process of this host is alive (EPERM: alive, another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Cross-process exclusive lock on `lockPath`, written by us rather than taken from proper-lockfile: that library
 * judges staleness by mtime only (a kill -9'd writer blocks everyone for the whole stale period) and removes a stale
 * lock by unlink, which can delete a lock another process has just taken. Here:
 * - the lock file appears complete or not at all: the holder record is written to a private temp file and `link(2)`ed
 *   to the lock path, which fails with EEXIST when the lock is held (atomic on local filesystems and NFS);
 * - a lock is stale when its holder is on this host and its pid is dead (immediate recovery after kill -9), or when
 *   it has not been renewed for `leaseMs`;
 * - a stale lock is taken away by renaming it to a private name and checking that what was moved is the stale record
 *   that was judged; if a fresh holder's record was moved instead, it is linked back at once.
 */
export async function acquireLock(lockPath: string, options: LockOptions = {}): Promise<LockHandle> {
  const waitMs = options.waitMs ?? 60_000;
  const leaseMs = options.leaseMs ?? 30_000;
  const host = os.hostname();
  const nonce = randomBytes(8).toString('hex');
  const me: Holder = { pid: process.pid, host, nonce, acquiredAt: new Date().toISOString() };
  const temp = `${lockPath}.${process.pid}.${nonce}.tmp`;
  await writeNewFile(temp, JSON.stringify(me));
  const deadline = Date.now() + waitMs;
  let delay = 2;
  try {
    for (;;) {
      try {
        await link(temp, lockPath);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const observed = await readHolder(lockPath);
      if (observed && isStale(observed, host, leaseMs)) {
        await takeAway(lockPath, observed.holder, nonce);
        continue;
      }
      if (Date.now() > deadline) {
        throw new StoreError(
          'MSB_STORE_LOCK_TIMEOUT',
          `lock ${lockPath} is held by pid ${observed?.holder?.pid ?? '?'} on ${observed?.holder?.host ?? '?'} for longer than ${waitMs} ms`,
          { path: lockPath, holder: observed?.holder },
        );
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
  } finally {
    await unlink(temp).catch(() => {});
  }
  const renew = setInterval(() => {
    const now = new Date();
    utimes(lockPath, now, now).catch(() => {});
  }, leaseMs / 3);
  renew.unref();
  await pausePoint('lock-acquired');
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(renew);
      const current = await readHolder(lockPath);
      if (current?.holder?.nonce === nonce) await unlink(lockPath).catch(() => {});
    },
  };
}

async function readHolder(lockPath: string): Promise<{ holder: Holder | undefined; mtimeMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    let holder: Holder | undefined;
    try {
      holder = JSON.parse(text) as Holder;
    } catch {
      holder = undefined;
    }
    return { holder, mtimeMs: st.mtimeMs };
  } catch {
    return undefined; // released between our link attempt and this read: just try again
  }
}

function isStale(observed: { holder: Holder | undefined; mtimeMs: number }, host: string, leaseMs: number): boolean {
  if (Date.now() - observed.mtimeMs > leaseMs) return true;
  const h = observed.holder;
  return h !== undefined && h.host === host && h.pid !== process.pid && !pidAlive(h.pid);
}

async function takeAway(lockPath: string, judged: Holder | undefined, nonce: string): Promise<void> {
  const aside = `${lockPath}.${process.pid}.${nonce}.stale`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // someone else took it away first
  }
  const moved = await readHolder(aside);
  if (moved?.holder?.nonce !== judged?.nonce) await link(aside, lockPath).catch(() => {});
  await unlink(aside).catch(() => {});
}

/** True when a leftover lock-area file (`*.tmp`, `*.stale`) belongs to a dead process on this host. */
export function leftoverOfDeadProcess(fileName: string): boolean {
  const m = /\.(\d+)\.[0-9a-f]+\.(tmp|stale)$/.exec(fileName);
  return m?.[1] !== undefined && !pidAlive(Number(m[1]));
}
