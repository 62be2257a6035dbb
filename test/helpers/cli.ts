import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

/** Runs a program to its end (SIGKILL after `timeoutMs`, default 60 s), its output collected, `input` on stdin. */
export function runProcess(command: string, args: string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that refuses its input exits before reading it all: that is its answer, not a test failure.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the real `msb` CLI (from source through tsx) as a child process. */
export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  // tsx named by its resolved URL: a bare 'tsx' would be looked up from cwd, which may be outside the checkout.
  return runProcess(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args],
    options,
  );
}

/** Runs the real `msb` CLI and returns its stdout; a non-zero exit throws, naming the command and its stderr. */
export async function runCliOk(args: string[], options: RunOptions = {}): Promise<string> {
  const r = await runCli(args, options);
  if (r.code !== 0) throw new Error(`msb ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A long-running `msb` command (a worker, a server) as a child process: its stderr collected, its exit awaited. */
export interface SpawnedCli {
  proc: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  exited: Promise<number | null>;
}

/** Starts the real `msb` CLI (from source through tsx) with `args`, stdout ignored. */
export function spawnCli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): SpawnedCli {
  const proc = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args],
    { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1', ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, stderr: () => stderr, exited };
}
