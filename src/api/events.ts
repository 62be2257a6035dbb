/**
 * A job's Server-Sent Events. Each event's id is the number of log lines delivered so far, so a client that
 * reconnects with `Last-Event-ID: n` gets the log lines from the (n+1)-th on, then the job's current state and
 * progress (snapshots, safe to send again): no log line twice, none lost.
 *
 * Events: `state` ({ state, attemptsMade, failedReason?, result? }), `progress` (the worker's progress object),
 * `log` (one line), `end` (the final state; the stream closes after it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConversionClient, JobInfo } from '../jobs/index.js';

const FINAL = new Set(['completed', 'failed', 'removed']);

export async function followJob(
  client: ConversionClient,
  first: JobInfo,
  fromLog: number,
  req: IncomingMessage,
  res: ServerResponse,
  keepAliveMs: number,
): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    // Proxies such as nginx buffer responses unless told not to.
    'x-accel-buffering': 'no',
  });
  let closed = false;
  let wake: (() => void) | undefined;
  const woken = () => {
    wake?.();
    wake = undefined;
  };
  req.socket.once('close', () => {
    closed = true;
    woken();
  });
  const unsubscribe = await client.onJobEvent(first.queue, first.id, woken).catch(() => () => {});
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
  let sent = fromLog;
  let lastState = '';
  let lastProgress = '';
  const send = (event: string, data: unknown) =>
    res.write(`id: ${sent}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  try {
    res.write('retry: 2000\n\n');
    while (!closed) {
      // Set up the wake-up before reading, so an event between the read and the wait is not missed.
      const next = new Promise<void>((resolve) => {
        wake = resolve;
      });
      const info = await client.get(first.id);
      const { logs } = await client.logs(first.id, sent, -1).catch(() => ({ logs: [] as string[] }));
      for (const line of logs) {
        sent++;
        send('log', line);
      }
      const state = info?.state ?? 'removed';
      const snapshot = {
        state,
        attemptsMade: info?.attemptsMade ?? 0,
        ...(info?.failedReason ? { failedReason: info.failedReason } : {}),
        ...(info?.result ? { result: info.result } : {}),
        ...(info?.unserved ? { unserved: info.unserved } : {}),
      };
      if (JSON.stringify(snapshot) !== lastState) {
        lastState = JSON.stringify(snapshot);
        send('state', snapshot);
      }
      const progress = JSON.stringify(info?.progress ?? null);
      if (progress !== lastProgress) {
        lastProgress = progress;
        send('progress', info?.progress ?? null);
      }
      if (FINAL.has(state)) {
        send('end', snapshot);
        break;
      }
      // Log lines raise no BullMQ event: look again at least every second.
      await Promise.race([next, new Promise((r) => setTimeout(r, 1000).unref())]);
    }
  } finally {
    clearInterval(keepAlive);
    unsubscribe();
    res.end();
  }
}
