import type { ConversionHandle, JobResult } from '../jobs/index.js';

/** How often `--wait` looks at the job to say what it waits for. */
const POLL_MS = 2000;

/**
 * Waits for a job's result and, while it waits, says on stderr what it waits for and why: the job's state and, while
 * no live worker serves its queue, that ("no live worker serves msb-trt10.8-sm86"), each time that changes. Never
 * silent and never forever when `timeoutMs` is given (MSB_JOB_WAIT_TIMEOUT; the job itself stays queued).
 */
export async function waitWithStatus(
  handle: Pick<ConversionHandle, 'id' | 'queue' | 'info' | 'result'>,
  timeoutMs?: number,
): Promise<JobResult> {
  const started = Date.now();
  const short = handle.id.slice(0, 12);
  let said = '';
  const report = async () => {
    const info = await handle.info();
    if (!info || info.state === 'completed' || info.state === 'failed') return;
    const line = `${info.state}${info.unserved ? `: ${info.unserved}` : ''}`;
    if (line === said) return;
    said = line;
    const seconds = Math.round((Date.now() - started) / 1000);
    const limit = timeoutMs === undefined ? '' : ` of at most ${Math.round(timeoutMs / 1000)} s`;
    process.stderr.write(`msb: waiting for job ${short} on ${handle.queue} (${seconds} s${limit}): ${line}\n`);
  };
  let timer: NodeJS.Timeout | undefined;
  // `done` and not only clearTimeout: a report in flight when the wait settles (Redis gone: info() waits out its
  // retries) would otherwise arm a fresh timer after the finally below, and that timer keeps the process alive.
  let done = false;
  const poll = async (): Promise<void> => {
    await report().catch(() => undefined); // a status line is best effort; the wait itself reports failures
    if (!done) timer = setTimeout(poll, POLL_MS);
  };
  await poll();
  try {
    return await handle.result(timeoutMs);
  } finally {
    done = true;
    clearTimeout(timer);
  }
}
