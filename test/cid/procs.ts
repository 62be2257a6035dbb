import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../helpers/paths.js';
import type { LeaseRecord, WorkerConfig } from './worker.js';

/** A running test/cid/worker.ts process and the lines it printed. */
export interface Worker {
  proc: ChildProcess;
  lines: string[];
  /** Resolves once the worker printed `ready`. */
  ready: Promise<void>;
  /** Resolves with the exit code (or signal) once the process ended; rejects after `timeoutMs`. */
  exited: Promise<number | string>;
  stderr: () => string;
}

// A watchdog, not a timing assertion: 50 workers each start a tsx process, which on a 2-core machine shared with other
// suites (load average 30-90 seen) took longer than the former 60 s to start and run them all.
export function startWorker(config: WorkerConfig, timeoutMs = 240_000): Worker {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'test', 'cid', 'worker.ts'), JSON.stringify(config)],
    {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  createInterface({ input: proc.stdout }).on('line', (line) => {
    lines.push(line);
    if (line === 'ready') onReady();
  });
  const exited = new Promise<number | string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`worker did not finish in ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  // a worker that dies before `ready` must not leave the test waiting forever
  void exited.then(onReady, onReady);
  return { proc, lines, ready, exited, stderr: () => err };
}

/** The lease records a finished worker printed. */
export function records(worker: Worker): LeaseRecord[] {
  return worker.lines.filter((l) => l.startsWith('{"model"')).map((l) => JSON.parse(l) as LeaseRecord);
}

/**
 * Every pair of leases on the same model and ID, in acquisition order, that overlapped or came closer than
 * `gap` ms (the quarantine): [earlier, later]. Empty when every ID was held by one lease at a time.
 */
export function conflicts(all: LeaseRecord[], gap: number): [LeaseRecord, LeaseRecord][] {
  const byId = new Map<string, LeaseRecord[]>();
  for (const r of all) {
    const key = `${r.model}\u0000${r.id}`;
    byId.set(key, [...(byId.get(key) ?? []), r]);
  }
  const bad: [LeaseRecord, LeaseRecord][] = [];
  for (const list of byId.values()) {
    list.sort((a, b) => a.acquiredAt - b.acquiredAt);
    list.forEach((cur, i) => {
      const prev = list[i - 1];
      if (prev && cur.acquiredAt < prev.end + gap) bad.push([prev, cur]);
    });
  }
  return bad;
}
