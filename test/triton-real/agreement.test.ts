/**
 * msb agrees with Triton (issue 21, item 2): for every config of the Triton config corpus (L0_model_config's
 * non-autofill half, qa/, docs/, deploy/, src/, python/) and every config msb generates for the ONNX corpus, the real
 * tritonserver 2.51 from PyPI decides (the model is READY, or the load is refused with its message) and msb decides
 * (`validateModelConfig(config, { modelName, gpus: [] })`: this server has no GPU). The verdicts must be equal
 * wherever the config alone decides; loads Triton refuses for a cause outside the config (a model an ensemble needs
 * is not in the corpus, a repository agent or a label file is missing, …) are counted by cause, from a short list of
 * Triton's messages (OUTSIDE below).
 *
 * The PyPI server has only the Python backend. So that the core finds a backend for every model and runs its checks
 * after the lookup (instance groups, Model::Init's config and I/O validation, schedulers, warmup: docs/triton.md
 * "Backends the PyPI server lacks"), the test-only backend (test/triton-backend: accept-all.cc, built here by its
 * build.sh with msb's own declarations of Triton's C API, nothing fetched) is installed under every backend name:
 * the platforms' (onnxruntime, tensorrt, pytorch, tensorflow, openvino), `python` (in place of the real Python
 * backend, so a Python config meets the core's checks rather than a stub's start-up) and the custom names the corpus
 * uses. It accepts every model, so a refusal is the core's.
 *
 * Each folder of corpus models is one model repository (an ensemble finds its steps only among its siblings); folders
 * whose model names neither collide nor refer to each other share one server (`--model-repository` given once per
 * folder), in explicit mode, each model loaded through `/v2/repository/models/{m}/load` and unloaded again, one at
 * a time (an ensemble loads its steps).
 * `noautofill_platform` runs with `--disable-auto-complete-config` and `platform: "tensorrt_plan"` where a case
 * names none, as Triton's own qa/L0_model_config/test.sh runs it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  generateModelConfig,
  type ModelConfig,
  parseModelConfig,
  printModelConfig,
  validateModelConfig,
} from '../../src/config/index.js';
import { inspectModel } from '../../src/inspect/index.js';
import { repoRoot, skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { skipWithoutTriton, TritonServer } from '../helpers/triton.js';

const configs = testdata('triton-configs', 'triton-server');
const onnx = testdata('onnx');
const skip = skipWithoutTriton() || skipWithout(configs, onnx);

/** Backends Triton derives from msb's platforms, and Python's; the corpus's own backend names are added to them. */
const BACKENDS = ['onnxruntime', 'tensorrt', 'pytorch', 'tensorflow', 'openvino', 'python'];

/**
 * Triton's refusals that are not about the config: msb's config check cannot see them (`msb validate` of a store
 * checks the files it holds). Each pattern is matched against Triton's load error; anything else is decided by the
 * config.
 */
const OUTSIDE: [cause: string, pattern: RegExp][] = [
  // The corpus holds configs, not the models an ensemble's steps name (only a folder's siblings are in its
  // repository); also the nested form "ensemble 'a' depends on 'b' which is not valid. … b contains models …".
  ['ensemble step model not in the corpus', /contains models that are not available or ambiguous/],
  // The PyPI wheel ships no repository agents (`relocation`, `checksum` of qa/L0_*repo*agent*).
  ['repository agent not installed', /unable to find 'libtritonrepoagent_\w+\.so' for repo agent/],
  // No platform and no backend: Triton auto-completes them from the version folder's file names (model.onnx,
  // model.py, …), and the corpus has configs only.
  ['model file needed to tell the backend', /Could not determine backend for model '[^']*' with no backend/],
  // label_filename names a file beside config.pbtxt, which the corpus does not have.
  ['label file missing', /failed to open text file for read .*: No such file or directory/],
  // `runtime` names a library that is not in the backend directory (special_cases/invalid_runtime): the server's
  // install, not the config (a runtime that escapes the directory is a config rule, and is decided).
  ['runtime library not installed', /unable to find backend library '[^']*' for model '[^']*', searched/],
];

interface Case {
  set: 'corpus' | 'generated';
  /** Where it came from (relative to the corpus), for messages. */
  id: string;
  name: string;
  /** The folder it shares a repository with. */
  group: string;
  text: string;
  /** Loaded with `--disable-auto-complete-config` (noautofill_platform). */
  strict: boolean;
  /** A generated config's model file, linked into its version folder. */
  source?: string;
}

interface Verdict {
  c: Case;
  tritonOk: boolean;
  tritonMessage: string;
  msbOk: boolean;
  msbMessage: string;
  outside?: string;
}

const DEFAULT_FILES: Record<string, string> = {
  tensorrt_plan: 'model.plan',
  onnxruntime_onnx: 'model.onnx',
  pytorch_libtorch: 'model.pt',
  tensorflow_graphdef: 'model.graphdef',
  tensorflow_savedmodel: 'model.savedmodel',
  openvino: 'model.xml',
  tensorrt: 'model.plan',
  onnxruntime: 'model.onnx',
  pytorch: 'model.pt',
  tensorflow: 'model.savedmodel',
  python: 'model.py',
};

function field(text: string, name: string): string | undefined {
  return new RegExp(`^\\s*${name}\\s*:\\s*"([^"]*)"`, 'm').exec(text)?.[1];
}

function corpusCases(): Case[] {
  const out: Case[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'config.pbtxt') {
        const rel = path.relative(configs, p);
        if (/^qa\/L0_model_config\/autofill_noplatform/.test(rel)) continue;
        const modelDir = path.dirname(p);
        let text = readFileSync(p, 'utf8');
        const strict = /^qa\/L0_model_config\/noautofill_platform\//.test(rel);
        if (strict && field(text, 'platform') === undefined && field(text, 'backend') === undefined) {
          text = `platform: "tensorrt_plan"\n${text}`;
        }
        out.push({
          set: 'corpus',
          id: path.dirname(rel),
          name: path.basename(modelDir),
          group: path.dirname(modelDir),
          text,
          strict,
        });
      }
    }
  };
  walk(configs);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

async function generatedCases(): Promise<Case[]> {
  const models: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.onnx')) models.push(p);
    }
  };
  walk(onnx);
  models.sort();
  const out: Case[] = [];
  for (const [i, file] of models.entries()) {
    // `<name>/model.onnx`, or `light/<name>.onnx`.
    const name =
      path.basename(file) === 'model.onnx' ? path.basename(path.dirname(file)) : path.basename(file, '.onnx');
    // The path `msb add --onnx` takes (src/publish/publish.ts): inspect, then generate.
    const signature = await inspectModel(file);
    let config = generateModelConfig(signature, { name });
    if (i % 2 === 1) {
      const batches = (config.maxBatchSize ?? 0) > 0;
      config = generateModelConfig(signature, { name, concurrency: 2, ...(batches ? { maxBatchSize: 8 } : {}) });
    }
    out.push({
      set: 'generated',
      id: path.relative(onnx, file),
      name,
      group: 'generated',
      text: printModelConfig(config),
      strict: false,
      source: file,
    });
  }
  return out;
}

function msbVerdict(c: Case): { ok: boolean; message: string } {
  let config: ModelConfig;
  try {
    config = parseModelConfig(c.text);
  } catch (err) {
    return { ok: false, message: `parse: ${(err as Error).message}` };
  }
  const problems = validateModelConfig(config, { modelName: c.name, gpus: [] });
  return {
    ok: problems.length === 0,
    message: problems.map((p) => `${p.path ? `${p.path}: ` : ''}${p.rule}: ${p.message}`).join('; '),
  };
}

/** Writes a case's model folder: its config.pbtxt and a version `1/` with a file named as Triton would look for it. */
async function layOut(repo: string, c: Case): Promise<void> {
  const dir = path.join(repo, c.name);
  await mkdir(path.join(dir, '1'), { recursive: true });
  await writeFile(path.join(dir, 'config.pbtxt'), c.text);
  const source = c.source;
  const platform = field(c.text, 'platform');
  const backend = field(c.text, 'backend');
  if (platform === 'ensemble') return;
  const file = field(c.text, 'default_model_filename') ?? DEFAULT_FILES[platform ?? backend ?? ''] ?? 'model';
  const target = path.join(dir, '1', file);
  if (source) await symlink(source, target);
  // A custom backend's library in the version folder (qa/custom_models): Triton loads it from there.
  else if (/^libtriton_.*\.so$/.test(file)) await copyFile(acceptAllLibrary, target);
  else if (platform === 'tensorflow_savedmodel' || (!platform && backend === 'tensorflow')) await mkdir(target);
  else await writeFile(target, '');
}

/** Packs folders into servers: no model name twice in one server, no ensemble step found in another folder. */
function pack(cases: Case[]): Case[][] {
  const groups = new Map<string, Case[]>();
  for (const c of cases) groups.set(`${c.strict}:${c.group}`, [...(groups.get(`${c.strict}:${c.group}`) ?? []), c]);
  const bins: { strict: boolean; names: Set<string>; refs: Set<string>; cases: Case[] }[] = [];
  for (const members of groups.values()) {
    const names = new Set(members.map((c) => c.name));
    const refs = new Set(
      members.flatMap((c) => [...c.text.matchAll(/model_name\s*:\s*"([^"]*)"/g)].map((m) => m[1] as string)),
    );
    const strict = members[0]?.strict ?? false;
    const bin = bins.find(
      (b) =>
        b.strict === strict &&
        [...names].every((n) => !b.names.has(n) && !b.refs.has(n)) &&
        [...refs].every((r) => !b.names.has(r)),
    );
    if (bin) {
      for (const n of names) bin.names.add(n);
      for (const r of refs) bin.refs.add(r);
      bin.cases.push(...members);
    } else bins.push({ strict, names, refs: new Set(refs), cases: [...members] });
  }
  return bins.map((b) => b.cases);
}

async function post(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

/** Triton left a model UNLOADING: the server is stopped and started again (see runServer). */
class UnloadHung extends Error {}

/**
 * Loads each model of one server's share, one at a time, then unloads it (and the step models an ensemble loaded)
 * and waits until Triton has finished unloading before the next load, so each verdict starts from the same state
 * (models left loaded changed later ensembles' verdicts: a step that failed before made its ensemble "fail to poll",
 * with no reason logged). Under this churn Triton 2.51 now and then dies of SIGSEGV inside libtritonserver.so or
 * leaves a model UNLOADING for good (0-2 times a run here; a stand-alone load/unload loop shows both, at any model,
 * also with the real Python backend): the server is started again and that model's verdict taken afresh.
 */
async function runServer(
  root: string,
  share: Case[],
  backendDir: string,
): Promise<{ verdicts: Verdict[]; crashes: string[] }> {
  const repos = new Map<string, string>();
  for (const c of share) {
    let repo = repos.get(c.group);
    if (!repo) {
      repo = path.join(root, `repo${repos.size}`);
      repos.set(c.group, repo);
    }
    await layOut(repo, c);
  }
  const [first, ...rest] = [...repos.values()];
  assert.ok(first);
  const server = await TritonServer.start({
    repository: first,
    mode: 'explicit',
    backends: [backendDir],
    args: [
      ...rest.map((r) => `--model-repository=${r}`),
      ...(share[0]?.strict ? ['--disable-auto-complete-config'] : []),
      // A stop (restart after a hung unload, or the end) waits this long for models still unloading.
      '--exit-timeout-secs=2',
    ],
    waitFor: 'live',
  });
  try {
    const verdicts: Verdict[] = [];
    // A request that gets no answer: say which model, and show the server's end of the log.
    const call = (c: Case, what: 'load' | 'unload', body: unknown) =>
      post(`${server.url}/v2/repository/models/${encodeURIComponent(c.name)}/${what}`, body).catch((err: unknown) => {
        throw new Error(
          `${what} ${c.id}: ${String(err)} (server running: ${server.running}); its log:\n${server.log().slice(-6000)}`,
        );
      });
    // Nothing loaded, loading or unloading.
    const settled = async () => {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const index = await server.index().catch((err: unknown) => {
          throw new Error(
            `index: ${String(err)} (server running: ${server.running}); its log:\n${server.log().slice(-5000)}`,
          );
        });
        const busy = index.filter((m) => m.state && m.state !== 'UNAVAILABLE');
        if (busy.length === 0) return;
        if (Date.now() > deadline)
          throw new UnloadHung(
            `models not unloaded within 5 s (an unload takes milliseconds here): ${JSON.stringify(busy)}`,
          );
        await sleep(5);
      }
    };
    const one = async (c: Case) => {
      const load = await call(c, 'load', {});
      const tritonOk = load.status === 200;
      let tritonMessage = '';
      if (!tritonOk) {
        try {
          tritonMessage = (JSON.parse(load.text) as { error?: string }).error ?? load.text;
        } catch {
          tritonMessage = `HTTP ${load.status} ${load.text}`;
        }
      }
      // "failed to poll from model repository" says no more; the reason is in the server's log line for the folder.
      if (/failed to poll from model repository/.test(tritonMessage)) {
        const line = new RegExp(`Poll failed for model directory '${c.name.replace(/\W/g, '\\$&')}': (.*?)"?$`, 'gm');
        const logged = await server.waitForLog(line, 10_000).then(
          () => [...server.log().matchAll(line)].at(-1)?.[1],
          () => undefined,
        );
        if (logged) tritonMessage += `: ${logged}`;
      }
      // A model that did not load has nothing to unload, unless it is an ensemble (its steps may have loaded).
      if (tritonOk || field(c.text, 'platform') === 'ensemble') {
        await call(c, 'unload', { parameters: { unload_dependents: true } });
        await settled();
      }
      const msb = msbVerdict(c);
      const outside = tritonOk ? undefined : OUTSIDE.find(([, re]) => re.test(tritonMessage))?.[0];
      return { c, tritonOk, tritonMessage: tritonMessage.trim(), msbOk: msb.ok, msbMessage: msb.message, outside };
    };
    const crashes: string[] = [];
    for (const c of share) {
      for (let attempt = 1; ; attempt++) {
        try {
          verdicts.push(await one(c));
          break;
        } catch (err) {
          // Triton 2.51 now and then dies of SIGSEGV inside libtritonserver.so, or leaves a model UNLOADING for
          // good, when models are loaded and unloaded in quick succession (docs/triton.md): start it again and take
          // this model's verdict afresh. A third failure on the same model fails the test (with the log).
          const deadline = Date.now() + 20_000;
          while (!(err instanceof UnloadHung) && server.running && Date.now() < deadline) await sleep(100);
          if (attempt === 3 || (server.running && !(err instanceof UnloadHung))) {
            throw new Error(`${c.id}: ${String(err)}\n${server.log().slice(-6000)}`);
          }
          const signal = /Signal \((\d+)\) received/.exec(server.log().slice(-20_000))?.[1];
          crashes.push(
            `${c.id} (${err instanceof UnloadHung ? 'unload hung' : signal === '11' ? 'SIGSEGV' : 'exited'})`,
          );
          await server.restart();
        }
      }
    }
    assert.ok(server.running, `tritonserver died:\n${server.log()}`);
    return { verdicts, crashes };
  } finally {
    await server.close();
  }
}

const dir = await tempDir('msb-agreement-');
const backendDir = path.join(dir, 'backends');
/** test/triton-backend/build.sh's library (it installs copies of it under each backend name). */
const acceptAllLibrary = path.join(backendDir, 'build', 'libtriton_accept_all.so');

test('msb’s verdict equals the real Triton’s for every corpus config and every config msb generates', {
  skip,
  timeout: 900_000,
}, async () => {
  const started = Date.now();
  const corpus = corpusCases();
  const generated = await generatedCases();
  const backends = new Set(BACKENDS);
  for (const c of corpus) {
    const b = field(c.text, 'backend');
    if (b && /^[a-z0-9_]+$/.test(b)) backends.add(b);
  }
  const build = spawnSync('sh', [path.join(repoRoot, 'test', 'triton-backend', 'build.sh'), backendDir, ...backends], {
    encoding: 'utf8',
  });
  assert.equal(build.status, 0, `test/triton-backend/build.sh: ${build.stderr}${build.stdout}`);
  // A `runtime` with a folder (special_cases/runtime_escape: `../dummy_runtime/libtriton_identity.so`) gets its
  // library where it points, as Triton's qa/L0_model_config/test.sh provides it: then only the escape can refuse it.
  for (const c of corpus) {
    const runtime = field(c.text, 'runtime');
    const backend = field(c.text, 'backend');
    if (!runtime?.includes('/') || !backend) continue;
    const at = path.resolve(backendDir, backend, runtime);
    if (!at.startsWith(`${backendDir}${path.sep}`)) continue;
    await mkdir(path.dirname(at), { recursive: true });
    await copyFile(acceptAllLibrary, at);
  }
  const shares = [...pack(corpus), generated];
  const verdicts: Verdict[] = [];
  const crashes: string[] = [];
  for (const [i, share] of shares.entries()) {
    const run = await runServer(path.join(dir, `s${i}`), share, backendDir);
    verdicts.push(...run.verdicts);
    crashes.push(...run.crashes);
  }
  // Every verdict with both messages, for a closer look: MSB_TRITON_AGREEMENT_DUMP=FILE.json.
  if (process.env.MSB_TRITON_AGREEMENT_DUMP) {
    await writeFile(process.env.MSB_TRITON_AGREEMENT_DUMP, JSON.stringify(verdicts, null, 1));
  }
  const decided = verdicts.filter((v) => !v.outside);
  const disagree = decided.filter((v) => v.tritonOk !== v.msbOk);
  const of = (set: Case['set']) => decided.filter((v) => v.c.set === set);
  const agreeing = (vs: Verdict[]) => `${vs.filter((v) => v.tritonOk === v.msbOk).length}/${vs.length}`;
  const outside = verdicts.filter((v) => v.outside);
  const causes = OUTSIDE.map(([cause]) => [cause, outside.filter((v) => v.outside === cause).length] as const);
  const corpusDecided = of('corpus');
  process.stdout.write(
    `agreement: corpus ${agreeing(corpusDecided)}, generated ${agreeing(of('generated'))}, outside-config ${
      outside.length
    }\ncorpus decided: ${corpusDecided.filter((v) => v.tritonOk).length} READY, ${
      corpusDecided.filter((v) => !v.tritonOk).length
    } refused (noautofill_platform ${agreeing(corpusDecided.filter((v) => v.c.strict))}); outside the config: ${causes
      .map(([k, n]) => `${k} ${n}`)
      .join(
        ', ',
      )}; ${shares.length} servers, Triton restarted ${crashes.length}×${crashes.length ? ` (at ${crashes.join(', ')})` : ''}, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  assert.deepEqual(
    disagree.map(
      (v) =>
        `${v.c.set} ${v.c.id}: Triton ${v.tritonOk ? 'READY' : `refuses: ${v.tritonMessage}`}; msb ${v.msbOk ? 'accepts' : `refuses: ${v.msbMessage}`}`,
    ),
    [],
    'msb and Triton disagree',
  );
  // The corpus as measured (docs/triton.md): a shrinking corpus or a widening "outside" list must show here.
  assert.ok(corpusDecided.length >= 180, `only ${corpusDecided.length} corpus configs decided by the config`);
  assert.ok(
    corpusDecided.filter((v) => v.tritonOk).length >= 130 && corpusDecided.filter((v) => !v.tritonOk).length >= 40,
    'both verdicts are exercised',
  );
  assert.equal(corpusDecided.filter((v) => v.c.strict).length, 25, 'every noautofill_platform case is decided');
  assert.equal(of('generated').length, generated.length);
  assert.ok(generated.length >= 124, `only ${generated.length} ONNX models`);
  assert.ok(outside.length <= 50, `${outside.length} refusals outside the config`);
  for (const [cause, n] of causes) assert.ok(n > 0, `no refusal is "${cause}": drop it from OUTSIDE`);
  // Measured here: 0 to 2 a run (docs/triton.md); more means something changed.
  assert.ok(crashes.length <= 6, `Triton crashed ${crashes.length} times: ${crashes.join(', ')}`);
});
