import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `check` every 50 ms until it holds; past `timeoutMs`, fails with "timed out waiting for <what>". */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
