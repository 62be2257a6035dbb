import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'child.ts');

/** Starts test/store/child.ts with a task in its own process. */
export function startChild(task: unknown, env: NodeJS.ProcessEnv = {}): ChildProcess & { output: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, JSON.stringify(task)], {
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
  return Object.assign(child, { output });
}

/** Resolves when the child prints `msb-store-paused:<step>` on stderr (it then waits to be killed). */
export function waitForPause(child: ChildProcess, step: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`child never paused at ${step}: ${seen}`)), timeoutMs);
    child.stderr?.on('data', (d: string) => {
      seen += d;
      if (seen.includes(`msb-store-paused:${step}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`child exited before pausing at ${step}: ${seen}`));
    });
  });
}

/** SIGKILL and wait for the exit. */
export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * Runs the real CLI with another working directory (test/helpers/cli.ts's `--import tsx` resolves tsx from the
 * working directory, which fails outside the checkout, so tsx is named by its resolved URL here).
 */
export function runCliIn(
  cwd: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const main = path.join(path.dirname(childScript), '..', '..', 'src', 'cli', 'main.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), main, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
