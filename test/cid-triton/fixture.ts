import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { ModelConfig } from '../../src/config/index.js';
import { type ModelStore, putVersion } from '../../src/store/index.js';
import { repoRoot } from '../helpers/paths.js';
import { findTriton } from '../helpers/triton.js';

/** The accumulator (a Python-backend sequence model, test/cid-triton/accumulator.py). */
export const ACCUMULATOR = path.join(repoRoot, 'test', 'cid-triton', 'accumulator.py');

/**
 * The CORRID control a test sequence model has: TYPE_UINT64, TYPE_STRING, or none (`any`: the model takes both
 * kinds and reads the ID from the request). Triton 2.51 (the PyPI server) fails every request of a model whose
 * CORRID control is TYPE_STRING ("unexpected number of string elements 2 for inference input 'CORRID'": its
 * sequence batcher pads the ID tensor to 132 bytes, which its own input check then counts as a second string;
 * fixed in triton-inference-server/core eeb283a, Triton 25.01), so string IDs run on an `any` model there.
 */
export type SequenceKind = 'uint64' | 'string' | 'any';

/**
 * A sequence model like Triton's simple_sequence: INT32 INPUT → running sum OUTPUT, START/END/READY/CORRID controls,
 * the `direct` or `oldest` strategy, uint64 or string IDs. Idle sequences are dropped after 5 s, so a killed client's
 * slot comes free.
 */
export function sequenceConfig(name: string, strategy: 'direct' | 'oldest', kind: SequenceKind): ModelConfig {
  const flag = (n: string, kind: 'CONTROL_SEQUENCE_START' | 'CONTROL_SEQUENCE_END' | 'CONTROL_SEQUENCE_READY') => ({
    name: n,
    control: [{ kind, int32FalseTrue: [0, 1] }],
  });
  const corrid = (dataType: 'TYPE_STRING' | 'TYPE_UINT64') => ({
    name: 'CORRID',
    control: [{ kind: 'CONTROL_SEQUENCE_CORRID' as const, dataType }],
  });
  return {
    name,
    backend: 'python',
    maxBatchSize: 8,
    input: [{ name: 'INPUT', dataType: 'TYPE_INT32', dims: [1] }],
    output: [{ name: 'OUTPUT', dataType: 'TYPE_INT32', dims: [1] }],
    sequenceBatching: {
      maxSequenceIdleMicroseconds: 5_000_000,
      ...(strategy === 'direct' ? { direct: {} } : { oldest: { maxCandidateSequences: 16, preferredBatchSize: [8] } }),
      controlInput: [
        flag('START', 'CONTROL_SEQUENCE_START'),
        flag('END', 'CONTROL_SEQUENCE_END'),
        flag('READY', 'CONTROL_SEQUENCE_READY'),
        ...(kind === 'any' ? [] : [corrid(kind === 'string' ? 'TYPE_STRING' : 'TYPE_UINT64')]),
      ],
    },
    instanceGroup: [{ count: 1, kind: 'KIND_CPU' }],
  };
}

/** Publishes the accumulator under `name` with the store's putVersion (its config is the test's). */
export async function addSequenceModel(
  store: ModelStore,
  name: string,
  strategy: 'direct' | 'oldest',
  kind: SequenceKind,
): Promise<void> {
  await putVersion(store, {
    model: name,
    config: sequenceConfig(name, strategy, kind),
    source: ACCUMULATOR,
    existing: 'refuse',
  });
}

export interface ClientEvent {
  event: 'acquired' | 'mid' | 'done';
  id: string;
  wrong?: number;
  answers?: number[];
}

/** One test/cid-triton/client.py process and the events it printed. */
export interface SequenceClient {
  proc: ChildProcess;
  events: ClientEvent[];
  /** Resolves with the first event of that kind; rejects when the process ends without it. */
  next(event: ClientEvent['event']): Promise<ClientEvent>;
  go(): void;
  exited: Promise<number | string>;
  stderr(): string;
}

export function startClient(config: Record<string, unknown>): SequenceClient {
  const proc = spawn(
    findTriton()?.python ?? 'python3',
    [path.join(repoRoot, 'test', 'cid-triton', 'client.py'), JSON.stringify(config)],
    {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const events: ClientEvent[] = [];
  const waiters: (() => void)[] = [];
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  createInterface({ input: proc.stdout }).on('line', (line) => {
    events.push(JSON.parse(line) as ClientEvent);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
      for (const w of waiters.splice(0)) w();
    });
  });
  proc.stdin.on('error', () => undefined);
  const next = (event: ClientEvent['event']) =>
    new Promise<ClientEvent>((resolve, reject) => {
      const look = () => {
        const found = events.find((e) => e.event === event);
        if (found) return resolve(found);
        if (proc.exitCode !== null || proc.signalCode !== null) {
          return reject(new Error(`client exited (${proc.exitCode ?? proc.signalCode}) before ${event}: ${err}`));
        }
        waiters.push(look);
      };
      look();
    });
  return { proc, events, next, go: () => proc.stdin.write('go\n'), exited, stderr: () => err };
}
