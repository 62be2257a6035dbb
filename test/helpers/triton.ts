/**
 * A real Triton Inference Server for the tests: the `tritonserver` 2.51.0 that nvidia-pytriton 0.7.0's wheel carries
 * (installed by `.ci/python-deps triton` into `.venv/triton`; docs/triton.md says what it needs on a machine without
 * a GPU). It has the Python backend only; other backends can be added beside it (`backends`, e.g. the test-only
 * backend of test/triton-backend).
 *
 * The server is laid out the way PyTriton lays it out (pytriton/triton.py): the wheel's `backends/` copied into a
 * work folder with the stub for the stub's Python (`python_backend_stubs/<X.Y>/triton_python_backend_stub`) put in
 * `backends/python/`, and the wheel's shared libraries (`nvidia_pytriton.libs`) on LD_LIBRARY_PATH.
 *
 * The stub embeds the Python whose libpython it finds, in isolated mode (PYTHONPATH and a venv are ignored: its
 * sys.path is that Python's own prefix), and every model's `model.py` imports numpy through
 * `triton_python_backend_utils`. So model code runs on the system's Python (Debian's `/usr/bin/python3`, with
 * `libpython3.X` and `python3-numpy` from .ci/system-deps), not on the venv's, which serves client processes
 * (tritonclient) only. Measured: with the venv's pyenv libpython first on LD_LIBRARY_PATH the stub's sys.path was
 * pyenv's own and `import numpy` failed.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runProcess } from './cli.js';
import { repoRoot } from './paths.js';
import { freeServerPort } from './ports.js';

/** Where the server and its parts are. */
export interface TritonInstall {
  /** The `tritonserver` binary. */
  bin: string;
  /** `pytriton/tritonserver/` of the wheel: `bin/`, `backends/`, `python_backend_stubs/`. */
  home: string;
  /** The wheel's bundled shared libraries. */
  libs: string;
  /** The venv's Python (tritonclient, numpy): for the tests' client processes. */
  python: string;
  /** The Python the stub embeds (model code runs on it): `MSB_TRITON_STUB_PYTHON`, default `/usr/bin/python3`. */
  stubPython: string;
  /** Its "X.Y", which picks the stub. */
  stubPythonVersion: string;
}

const venv = path.join(repoRoot, '.venv', 'triton');

let cached: TritonInstall | null | undefined;

/**
 * The install: `MSB_TRITONSERVER` (the binary inside an unpacked nvidia-pytriton wheel) with `MSB_TRITON_PYTHON`
 * (a Python that has tritonclient; default the venv's), else `.venv/triton`. Undefined when there is none.
 */
export function findTriton(): TritonInstall | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = locate() ?? null;
  return cached ?? undefined;
}

function locate(): TritonInstall | undefined {
  const python = process.env.MSB_TRITON_PYTHON ?? path.join(venv, 'bin', 'python');
  if (!existsSync(python)) return undefined;
  let bin = process.env.MSB_TRITONSERVER;
  if (!bin) {
    const lib = path.join(venv, 'lib');
    const py = existsSync(lib) ? readdirSync(lib).find((d) => d.startsWith('python3')) : undefined;
    if (py) bin = path.join(lib, py, 'site-packages', 'pytriton', 'tritonserver', 'bin', 'tritonserver');
  }
  if (!bin || !existsSync(bin)) return undefined;
  const home = path.resolve(path.dirname(bin), '..');
  const libs = path.resolve(home, '..', '..', 'nvidia_pytriton.libs');
  const stubPython = process.env.MSB_TRITON_STUB_PYTHON ?? '/usr/bin/python3';
  // The stub's Python must have numpy and a shared libpython; say which is missing rather than fail every load.
  const probe = spawnSync(
    stubPython,
    [
      '-c',
      'import sys, numpy, sysconfig; assert sysconfig.get_config_var("Py_ENABLE_SHARED"); print("%d.%d" % sys.version_info[:2])',
    ],
    { encoding: 'utf8' },
  );
  if (probe.status !== 0) return undefined;
  return { bin, home, libs, python, stubPython, stubPythonVersion: probe.stdout.trim() };
}

const required = process.env.MSB_REQUIRE_TRITON === '1';

/**
 * node:test's `skip` for suites that need the real server: false when it is installed, else the one line the run
 * shows. With MSB_REQUIRE_TRITON=1 (CI) absence throws, so the suite fails instead of skipping.
 */
export function skipWithoutTriton(): string | false {
  if (findTriton()) return false;
  const why =
    'no real Triton: run .ci/system-deps and .ci/python-deps triton (or set MSB_TRITONSERVER, MSB_TRITON_PYTHON, MSB_TRITON_STUB_PYTHON)';
  if (required) throw new Error(`${why} (MSB_REQUIRE_TRITON=1: CI runs every real-Triton suite)`);
  return why;
}

/** One entry of `POST /v2/repository/index`. */
export interface TritonIndexEntry {
  name: string;
  version?: string;
  state?: string;
  reason?: string;
}

export interface TritonOptions {
  /** The model repository: a local path or a URI Triton reads itself (`s3://host:port/bucket/prefix`). */
  repository: string;
  /** `--model-control-mode` (default `none`: load everything at start-up). */
  mode?: 'none' | 'poll' | 'explicit';
  /** `--repository-poll-secs` in poll mode (default 1). */
  pollSecs?: number;
  /** `--load-model` names in explicit mode (`*` for all). */
  load?: string[];
  /** Folders of backends (each `<name>/libtriton_<name>.so`) to put beside the Python backend. */
  backends?: string[];
  /** More flags, e.g. `--disable-auto-complete-config`, `--log-verbose=1`. */
  args?: string[];
  /** More environment for the server (e.g. AWS_ACCESS_KEY_ID for an S3 repository). */
  env?: NodeJS.ProcessEnv;
  /**
   * What `start` waits for: `ready` (default; `/v2/health/ready`: every model it loaded is READY — with
   * `--exit-on-error`, Triton's default, a failed load ends the server and `start` rejects with its log) or `live`
   * (`/v2/health/live`: the server answers, whatever its models do).
   */
  waitFor?: 'ready' | 'live';
  /** How long `start` and `restart` wait (default 120 s: a loaded 2-core machine). */
  startTimeoutMs?: number;
}

/** A running `tritonserver` on free ports, with its log kept. */
export class TritonServer {
  readonly url: string;
  private proc: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly install: TritonInstall,
    readonly options: TritonOptions,
    readonly work: string,
    readonly httpPort: number,
    readonly grpcPort: number,
    readonly metricsPort: number,
  ) {
    this.url = `http://127.0.0.1:${httpPort}`;
  }

  /** Lays the server out in a fresh work folder, starts it and waits (see {@link TritonOptions.waitFor}). */
  static async start(options: TritonOptions): Promise<TritonServer> {
    const install = findTriton();
    if (!install) throw new Error('no real Triton installed (see skipWithoutTriton)');
    const work = await mkdtemp(path.join(os.tmpdir(), 'msb-triton-'));
    const backends = path.join(work, 'backends');
    await cp(path.join(install.home, 'backends'), backends, { recursive: true });
    const v = install.stubPythonVersion;
    const stub = path.join(install.home, 'python_backend_stubs', v, 'triton_python_backend_stub');
    if (!existsSync(stub)) throw new Error(`nvidia-pytriton has no Python backend stub for Python ${v}`);
    await cp(stub, path.join(backends, 'python', 'triton_python_backend_stub'));
    for (const dir of options.backends ?? []) {
      for (const name of await readdir(dir)) {
        await cp(path.join(dir, name), path.join(backends, name), { recursive: true });
      }
    }
    // Ports from below the ephemeral range: restart() takes the same ones again (test/helpers/ports.ts).
    const [http, grpc, metrics] = [await freeServerPort(), await freeServerPort(), await freeServerPort()];
    const server = new TritonServer(install, options, work, http, grpc, metrics);
    try {
      await server.launch();
    } catch (err) {
      await rm(work, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  /** Everything the server printed since it was first started (restarts append). */
  log(): string {
    return this.output;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private args(): string[] {
    const o = this.options;
    const mode = o.mode ?? 'none';
    const args = [
      `--model-repository=${o.repository}`,
      `--backend-directory=${path.join(this.work, 'backends')}`,
      `--http-port=${this.httpPort}`,
      `--grpc-port=${this.grpcPort}`,
      `--metrics-port=${this.metricsPort}`,
      `--model-control-mode=${mode}`,
    ];
    if (mode === 'poll') args.push(`--repository-poll-secs=${o.pollSecs ?? 1}`);
    for (const m of o.load ?? []) args.push(`--load-model=${m}`);
    return [...args, ...(o.args ?? [])];
  }

  private async launch(): Promise<void> {
    const i = this.install;
    const ld = [i.libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    const proc = spawn(i.bin, this.args(), {
      env: { ...process.env, LD_LIBRARY_PATH: ld, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const keep = (d: string) => {
      this.output += d;
    };
    proc.stdout?.setEncoding('utf8').on('data', keep);
    proc.stderr?.setEncoding('utf8').on('data', keep);
    const probe = this.options.waitFor === 'live' ? '/v2/health/live' : '/v2/health/ready';
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 120_000);
    for (;;) {
      if (!this.running) {
        throw new Error(`tritonserver exited (${proc.exitCode ?? proc.signalCode}) before it was up:\n${this.output}`);
      }
      const ok = await fetch(`${this.url}${probe}`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`tritonserver not up (${probe}) within the start timeout:\n${this.output}`);
      }
      await sleep(200);
    }
  }

  /** Stops the process (SIGTERM, SIGKILL after 20 s); the work folder and ports stay for {@link restart}. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts it again on the same ports with the same options, and waits as `start` does. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops it and removes its work folder. */
  async close(): Promise<void> {
    await this.stop();
    await rm(this.work, { recursive: true, force: true });
  }

  /** `POST /v2/repository/index`: every model Triton knows of, with its state and the reason of a failure. */
  async index(): Promise<TritonIndexEntry[]> {
    const res = await fetch(`${this.url}/v2/repository/index`, { method: 'POST', body: '{}' });
    if (!res.ok) throw new Error(`repository index: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as TritonIndexEntry[];
  }

  /** `GET /v2/models/{name}[/versions/{v}]/ready`. */
  async modelReady(name: string, version?: string): Promise<boolean> {
    const v = version === undefined ? '' : `/versions/${version}`;
    const res = await fetch(`${this.url}/v2/models/${encodeURIComponent(name)}${v}/ready`);
    return res.ok;
  }

  /** `GET /v2/models/{name}/config`: the config Triton serves (after its auto-complete), as JSON. */
  async modelConfig(name: string): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.url}/v2/models/${encodeURIComponent(name)}/config`);
    if (!res.ok) throw new Error(`config of ${name}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  }

  /** Waits until the log matches `pattern`; fails with the log after `timeoutMs`. */
  async waitForLog(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.output.match(pattern);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in the Triton log:\n${this.output}`);
      await sleep(100);
    }
  }
}

/**
 * Runs a Python script with the venv's Python (tritonclient, numpy) and resolves with its output; rejects with
 * stderr when it exits non-zero.
 */
export async function runTritonPython(
  script: string,
  args: string[] = [],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  const install = findTriton();
  if (!install) throw new Error('no real Triton installed');
  const r = await runProcess(install.python, ['-c', script, ...args], options);
  if (r.code !== 0) throw new Error(`python exited ${r.code ?? 'on a signal'}: ${r.stderr || r.stdout}`);
  return { stdout: r.stdout, stderr: r.stderr };
}
