/**
 * A small HTTP server that speaks Triton's model repository protocol, for tests of msb's client. It implements the
 * documented HTTP/REST protocol (triton-inference-server/server `docs/protocol/extension_model_repository.md`):
 * `POST /v2/repository/index` → 200 with `[{name, version, state, reason}]`; `POST /v2/repository/models/NAME/load`
 * and `…/unload` → 200 with an empty body; errors as an HTTP error status with `{"error": "<message>"}`. The status
 * codes and messages of its failures are those Triton sends (server `src/http_server.cc` `HttpCodeFromError`, core
 * `src/model_repository_manager/model_repository_manager.cc`): 400 `load failed for model '…': …`, 500 `failed to
 * load '…', failed to poll from model repository` for a model directory it cannot find, 503 `explicit model load /
 * unload is not allowed if polling is enabled` in poll mode, 403 for a restricted API without its header.
 *
 * It is no Triton: a model "loads" when the repository directory holds `NAME/` with a numeric version directory,
 * which is what Triton's explicit-mode load looks for first. It can be told to fail the next requests, to be slow,
 * or to start listening only later (connections refused until then), and it records every request.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { freePort } from '../helpers/redis.js';

export interface RecordedRequest {
  method: string;
  path: string;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** Date.now() when it arrived. */
  at: number;
}

export interface RepositoryServerOptions {
  /** The model repository it "serves" (a local msb store). */
  repository: string;
  /** `poll`: load/unload are refused with Triton's 503, as a Triton polling its repository does. Default explicit. */
  mode?: 'explicit' | 'poll';
  /** A header every request must carry (`--http-restricted-api=model-repository:KEY=VALUE`), else 403. */
  restricted?: { header: string; value: string };
  /** Don't listen yet: connections are refused until `listen()`. */
  deferListen?: boolean;
}

interface Failure {
  status: number;
  error: string;
}

export class TritonRepositoryServer {
  readonly requests: RecordedRequest[] = [];
  /** Models loaded, with the version directories seen at their load. */
  readonly loaded = new Map<string, string[]>();
  /** Delay before each answer, in ms. */
  delayMs = 0;
  private readonly failures: Failure[] = [];
  private readonly loadErrors = new Map<string, string>();
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly options: RepositoryServerOptions,
    readonly port: number,
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(options: RepositoryServerOptions): Promise<TritonRepositoryServer> {
    const s = new TritonRepositoryServer(options, await freePort());
    if (!options.deferListen) await s.listen();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts listening (on the port chosen at start). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** The next `count` requests fail with `status` and Triton's JSON error body. */
  failNext(count: number, status = 503, error = 'Server is not ready'): void {
    for (let i = 0; i < count; i++) this.failures.push({ status, error });
  }

  /** Loads of `model` fail as a backend refusing the model does (400). */
  refuseLoad(model: string, reason: string): void {
    this.loadErrors.set(model, reason);
  }

  /** Requests to the load endpoint of `model` (or of any model). */
  loadCalls(model?: string): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.path.endsWith('/load') && (model === undefined || r.path === `/v2/repository/models/${model}/load`),
    );
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? '', path: url.pathname, body, headers: req.headers, at: Date.now() });
    if (this.delayMs > 0)
      await new Promise((r) => {
        const t = setTimeout(r, this.delayMs);
        this.timers.add(t);
      });
    const answer = (status: number, json?: unknown) => {
      const text = json === undefined ? '' : JSON.stringify(json);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const fail = (status: number, error: string) => answer(status, { error });

    const r = this.options.restricted;
    if (r && req.headers[r.header.toLowerCase()] !== r.value)
      return fail(403, `This API is restricted, expecting header '${r.header}'`);
    const failure = this.failures.shift();
    if (failure) return fail(failure.status, failure.error);
    if (req.method !== 'POST') return fail(405, 'Method Not Allowed');

    let parsed: Record<string, unknown> = {};
    if (body.length > 0) {
      try {
        parsed = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return fail(400, `failed to parse the request JSON buffer: ${body.slice(0, 40)}`);
      }
    }

    if (url.pathname === '/v2/repository/index') return answer(200, await this.index(parsed.ready === true));
    const m = /^\/v2\/repository\/models\/([^/]+)\/(load|unload)$/.exec(url.pathname);
    if (!m) return fail(404, 'Not Found');
    const model = decodeURIComponent(m[1] as string);
    if (this.options.mode === 'poll')
      return fail(503, 'explicit model load / unload is not allowed if polling is enabled');
    if (m[2] === 'unload') {
      this.loaded.delete(model);
      return answer(200);
    }
    const versions = await this.versions(model);
    if (versions.length === 0) return fail(500, `failed to load '${model}', failed to poll from model repository`);
    const refused = this.loadErrors.get(model);
    if (refused)
      return fail(
        400,
        `load failed for model '${model}': version ${versions.at(-1)} is at UNAVAILABLE state: ${refused};\n`,
      );
    this.loaded.set(model, versions);
    return answer(200);
  }

  private async versions(model: string): Promise<string[]> {
    const dir = path.join(this.options.repository, model);
    if (!existsSync(dir)) return [];
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && /^\d+$/.test(e.name))
      .map((e) => e.name)
      .sort((a, b) => Number(a) - Number(b));
  }

  private async index(readyOnly: boolean): Promise<unknown[]> {
    const names = existsSync(this.options.repository)
      ? (await readdir(this.options.repository, { withFileTypes: true }))
          .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
          .map((e) => e.name)
          .sort()
      : [];
    const out: unknown[] = [];
    for (const name of names) {
      const versions = this.loaded.get(name);
      if (versions) for (const v of versions) out.push({ name, version: v, state: 'READY' });
      else if (!readyOnly) out.push({ name });
    }
    return out;
  }
}
