/**
 * The real Triton these suites run on. TEMPORARY: a bare launcher of the `tritonserver` inside `.venv/triton`
 * (nvidia-pytriton 0.7.0, Triton 2.51) until the project's harness, test/helpers/triton.ts (branch wave3/h21triton),
 * lands; then this file shrinks to a call of it. It lays the server out as PyTriton does (the stub for the running
 * Python copied into a backends folder, the wheel's libraries on LD_LIBRARY_PATH).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../helpers/paths.js';
import { freeServerPort } from '../helpers/ports.js';

const venv = path.join(repoRoot, '.venv', 'triton');

function sitePackages(): string | undefined {
  const lib = path.join(venv, 'lib');
  if (!existsSync(lib)) return undefined;
  const py = readdirSync(lib).find((d) => d.startsWith('python3'));
  return py ? path.join(lib, py, 'site-packages') : undefined;
}

/** `tritonserver`, from MSB_TRITONSERVER or the .venv/triton venv; undefined when neither exists. */
export function tritonServerPath(): string | undefined {
  if (process.env.MSB_TRITONSERVER) return process.env.MSB_TRITONSERVER;
  const sp = sitePackages();
  const bin = sp && path.join(sp, 'pytriton', 'tritonserver', 'bin', 'tritonserver');
  return bin && existsSync(bin) ? bin : undefined;
}

/** The venv's Python with tritonclient, for client processes. */
export const clientPython = path.join(venv, 'bin', 'python');

/** node:test's `skip`: false when a real Triton is there, else the one line; MSB_REQUIRE_TRITON=1 makes it fail. */
export function skipWithoutTriton(): string | false {
  if (tritonServerPath() && existsSync(clientPython)) return false;
  if (process.env.MSB_REQUIRE_TRITON === '1')
    throw new Error('MSB_REQUIRE_TRITON=1 but no tritonserver in .venv/triton');
  return 'no real Triton: run .ci/python-deps triton (or set MSB_TRITONSERVER)';
}

export interface RunningTriton {
  http: number;
  url: string;
  log(): string;
  close(): Promise<void>;
}

/** Starts tritonserver on `repository` and resolves once every model is ready. */
export async function startTriton(repository: string, env: NodeJS.ProcessEnv = {}): Promise<RunningTriton> {
  const bin = tritonServerPath();
  if (!bin) throw new Error('no tritonserver');
  const home = path.resolve(path.dirname(bin), '..');
  const work = await mkdtemp(path.join(os.tmpdir(), 'msb-triton-'));
  const backends = path.join(work, 'backends');
  await cp(path.join(home, 'backends'), backends, { recursive: true });
  const ver = process.env.MSB_TRITON_STUB_PYTHON ?? '3.11';
  await cp(
    path.join(home, 'python_backend_stubs', ver, 'triton_python_backend_stub'),
    path.join(backends, 'python', 'triton_python_backend_stub'),
  );
  const [http, grpc, metrics] = [await freeServerPort(), await freeServerPort(), await freeServerPort()];
  let log = '';
  const proc: ChildProcess = spawn(
    bin,
    [
      `--model-repository=${repository}`,
      `--backend-directory=${backends}`,
      `--http-port=${http}`,
      `--grpc-port=${grpc}`,
      `--metrics-port=${metrics}`,
      '--exit-on-error=true',
    ],
    {
      env: {
        ...process.env,
        LD_LIBRARY_PATH: path.join(home, '..', '..', 'nvidia_pytriton.libs'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    log += d;
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    log += d;
  });
  const url = `http://127.0.0.1:${http}`;
  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(work, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`tritonserver exited ${proc.exitCode}:\n${log}`);
    const ok = await fetch(`${url}/v2/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`tritonserver not ready in 120 s:\n${log}`);
    }
    await sleep(250);
  }
  return { http, url, log: () => log, close };
}
