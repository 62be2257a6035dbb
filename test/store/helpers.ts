import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliResult, runCli } from '../helpers/cli.js';

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'child.ts');

/** Starts test/store/child.ts (or another child script) with a task in its own process. */
export type Child = ChildProcess & { output: Promise<string>; stderrText: () => string };

export function startChild(task: unknown, env: NodeJS.ProcessEnv = {}, script = childScript): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(task)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const output = new Promise<string>((resolve, reject) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`child exited ${code ?? signal}: ${err}`));
    });
  });
  output.catch(() => {});
  return Object.assign(child, { output, stderrText: () => err });
}

/** Resolves when the child has written `text` to stderr (at any time since it started). */
export function waitForStderr(child: Child, text: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!child.stderrText().includes(text)) return false;
      clearTimeout(timer);
      resolve();
      return true;
    };
    const timer = setTimeout(() => reject(new Error(`child never wrote ${text}: ${child.stderrText()}`)), timeoutMs);
    if (check()) return;
    child.stderr?.on('data', check);
    child.on('close', () => {
      if (!check()) {
        clearTimeout(timer);
        reject(new Error(`child exited before writing ${text}: ${child.stderrText()}`));
      }
    });
  });
}

/** Resolves when the child stops at a crash-test step (`msb-store-paused:<step>`); it then waits to be killed. */
export function waitForPause(child: Child, step: string): Promise<void> {
  return waitForStderr(child, `msb-store-paused:${step}`);
}

/** SIGKILL and wait for the exit. */
export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Runs the real CLI with another working directory. */
export function runCliIn(cwd: string, args: string[]): Promise<CliResult> {
  return runCli(args, { cwd });
}
