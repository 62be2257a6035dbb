/**
 * The addon against NVIDIA's real TensorRT libraries from PyPI, on this machine without a GPU (docs/tensorrt.md
 * "Real TensorRT libraries"). `.ci/python-deps` installs `.ci/requirements-tensorrt{11,10}.txt` into
 * `.venv/tensorrt{11,10}`; `MSB_TENSORRT_LIB_DIR` (directories, `:`-separated) names others. What PyPI carries is
 * TensorRT's lean runtime, `libnvinfer_lean.so.<major>` (the full libnvinfer with the builder and libnvonnxparser are
 * placeholder packages there that download from NVIDIA's own index at install time), so these tests show what the
 * real runtime library does; building against a real builder needs that library and a GPU.
 *
 * Every case runs in a child process (the addon opens TensorRT once per process) with the addon of this run: the
 * default header-less build under `npm test` and `npm run test:asan`, the one compiled against the same version's
 * headers under `npm run test:tensorrt-contract` (MSB_NATIVE_ADDON, ASan/UBSan/LSan).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tensorrt } from '../../src/tensorrt/index.js';
import { runCli } from '../helpers/cli.js';
import { repoRoot, skipWithout, testdata } from '../helpers/paths.js';

interface RealLib {
  major: number;
  file: string;
  /** x.y.z from the installed wheel's metadata (pip's record of what it installed, not the addon's answer). */
  version: string;
  wheel: string;
}

/** libnvinfer*.so.<major> in a directory, with the version of the wheel that installed it (its .dist-info). */
function libsIn(dir: string): RealLib[] {
  if (!existsSync(dir)) return [];
  const siblings = readdirSync(path.dirname(dir));
  const out: RealLib[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^libnvinfer(?:_lean)?\.so\.(\d+)$/.exec(name);
    if (!m) continue;
    const info = siblings.find((s) => /^tensorrt\w*libs-[\d.]+\.dist-info$/.test(s));
    const version =
      info && /^Version: (.+)$/m.exec(readFileSync(path.join(path.dirname(dir), info, 'METADATA'), 'utf8'))?.[1];
    assert.ok(info && version, `${dir}: no tensorrt*libs .dist-info beside it to say which release ${name} is`);
    out.push({
      major: Number(m[1]),
      file: path.join(dir, name),
      version: version.split('.').slice(0, 3).join('.'),
      wheel: `${info.replace(/-[\d.]+\.dist-info$/, '')}==${version}`,
    });
  }
  return out;
}

function defaultDirs(): string[] {
  return ['tensorrt11', 'tensorrt10'].flatMap((topic) => {
    const lib = path.join(repoRoot, '.venv', topic, 'lib');
    if (!existsSync(lib)) return [];
    return readdirSync(lib)
      .filter((p) => p.startsWith('python3'))
      .map((p) => path.join(lib, p, 'site-packages', 'tensorrt_lean_libs'));
  });
}

const dirs = process.env.MSB_TENSORRT_LIB_DIR ? process.env.MSB_TENSORRT_LIB_DIR.split(':') : defaultDirs();
const libs = dirs.flatMap(libsIn);
const required = process.env.MSB_REQUIRE_TENSORRT === '1';
const missing =
  libs.length === 0 &&
  'real TensorRT libraries not installed: run .ci/python-deps (.venv/tensorrt11, .venv/tensorrt10) or set MSB_TENSORRT_LIB_DIR';
if (required) {
  // CI: both supported majors, never a skip.
  assert.deepEqual([...new Set(libs.map((l) => l.major))].sort(), [10, 11], `MSB_REQUIRE_TENSORRT=1: found ${dirs}`);
}

const alexnet = testdata('onnx', 'onnx-backend', 'light', 'light_bvlc_alexnet.onnx');
const hasCudaDriver = spawnSync('sh', ['-c', 'ldconfig -p | grep -q "libcuda.so.1 "']).status === 0;
const compiled = tensorrt.status().compiledAgainst;
const compiledMajor = compiled === undefined ? undefined : Number(compiled.split('.')[0]);

/** The environment of a child: this lib, the default driver lookup (no override from the contract run). */
function envFor(lib: RealLib, extra: Record<string, string> = {}): Record<string, string> {
  return { MSB_LIBNVINFER: lib.file, MSB_LIBNVONNXPARSER: '', MSB_LIBCUDA: '', ...extra };
}

/** Runs a module snippet in a fresh Node with `env`; returns what it printed as JSON. */
function inChild(code: string, env: Record<string, string>): unknown {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  assert.equal(r.signal, null, `the child was killed by ${r.signal} (a crash or a hang): ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const statusIn = (env: Record<string, string>) =>
  inChild(
    "import { tensorrt } from './src/tensorrt/index.ts'; console.log(JSON.stringify(tensorrt.status()));",
    env,
  ) as ReturnType<typeof tensorrt.status>;

/** A plan header as TensorRT 8.6+ writes it (src/inspect/plan.ts): `ftrt`, bytes 24..26 the version. */
function planBytes(version: string): Buffer {
  const b = Buffer.alloc(256, 0xab);
  b.write('ftrt', 0, 'latin1');
  b[8] = 240;
  version.split('.').forEach((part, i) => {
    b[24 + i] = Number(part);
  });
  return b;
}

/** What the child's inspectEngine / buildEngine settle with: { code, message } or 'resolved'. */
const settleSnippet = (call: string) =>
  `import * as trt from './src/tensorrt/index.ts';
   const r = await ${call}.then(() => 'resolved', (e) => ({ code: e.code, message: e.message }));
   console.log(JSON.stringify(r));`;

/** The exported C symbols the addon resolves by name, as its sources spell them. */
function symbolsTheAddonResolves(): string[] {
  const sources = ['exports.cc', 'library.cc'].map((f) =>
    readFileSync(path.join(repoRoot, 'native', 'tensorrt', f), 'utf8'),
  );
  return [
    ...new Set(sources.join('\n').match(/"(?:getInferLib\w+Version|create\w+_INTERNAL|getNvOnnxParserVersion)"/g)),
  ]
    .map((s) => s.slice(1, -1))
    .sort();
}

describe('real TensorRT libraries', { skip: missing }, () => {
  let tmp: string;
  let libcudaDouble: string;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'msb-real-trt-'));
    // A libcuda.so.1 that lists one device without being a driver (the TensorRT double's, test code only; it needs
    // no header): it gets the addon past its own device check, so that TensorRT's own factory runs and fails.
    libcudaDouble = path.join(tmp, 'libcuda.so.1');
    const cc = spawnSync(
      process.env.CXX ?? 'g++',
      [
        '-std=c++17',
        '-shared',
        '-fPIC',
        '-o',
        libcudaDouble,
        path.join(repoRoot, 'test', 'tensorrt-double', 'cuda.cc'),
      ],
      { encoding: 'utf8', env: { ...process.env, LD_PRELOAD: '' } },
    );
    assert.equal(cc.status, 0, cc.stderr);
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  for (const lib of libs) {
    const sameMajor = compiledMajor === lib.major;
    const runtimeOnly = path.basename(lib.file).startsWith('libnvinfer_lean');
    const label = `${path.basename(lib.file)} (${lib.wheel})`;

    describe(label, () => {
      it('the addon opens it and reports its real version', () => {
        const status = statusIn(envFor(lib));
        assert.equal(status.version, lib.version);
        assert.equal(status.major, lib.major);
        assert.equal(status.library, lib.file);
        assert.equal(status.available, false);
        if (compiledMajor === undefined) {
          // Header-less build: it cannot use the library but says which TensorRT is installed.
          assert.equal(status.code, 'MSB_TENSORRT_UNAVAILABLE');
          assert.ok(status.reason?.includes(`installed: ${lib.file} (TensorRT ${lib.version})`), status.reason);
        } else if (sameMajor) {
          assert.equal(status.runtime, runtimeOnly);
          assert.equal(status.code, 'MSB_TENSORRT_UNAVAILABLE');
          assert.match(status.reason ?? '', /is a runtime without the builder/);
        } else {
          assert.equal(status.runtime, false);
          assert.equal(status.code, 'MSB_TENSORRT_VERSION_MISMATCH');
          const [maj, min] = lib.version.split('.');
          assert.match(
            status.reason ?? '',
            new RegExp(
              `is TensorRT ${maj}\\.${min} but msb was compiled against TensorRT ${compiled?.split('.').slice(0, 2).join('\\.')} headers`,
            ),
          );
        }
      });

      it('exports the entry points the addon resolves (the builder only in the full library)', () => {
        const nm = spawnSync('nm', ['-D', '--defined-only', lib.file], {
          encoding: 'utf8',
          env: { ...process.env, LD_PRELOAD: '' },
          maxBuffer: 64 << 20,
        });
        assert.equal(nm.status, 0, nm.stderr);
        const exported = new Set(nm.stdout.split('\n').map((l) => l.split(' ').pop()));
        const resolved = symbolsTheAddonResolves();
        // libnvonnxparser is not on PyPI as a real wheel: its two lookups cannot be checked against a real .so here.
        const ofNvinfer = resolved.filter((s) => !/OnnxParser/.test(s));
        assert.deepEqual(ofNvinfer, [
          'createInferBuilder_INTERNAL',
          'createInferRuntime_INTERNAL',
          'getInferLibBuildVersion',
          'getInferLibMajorVersion',
          'getInferLibMinorVersion',
          'getInferLibPatchVersion',
        ]);
        for (const s of ofNvinfer) {
          if (s === 'createInferBuilder_INTERNAL' && runtimeOnly) assert.ok(!exported.has(s), `${s} in a lean runtime`);
          else assert.ok(exported.has(s), `${lib.file} does not export ${s}`);
        }
      });

      it('reading a plan without a GPU is a typed "no CUDA device" error, not a crash or a hang', {
        skip:
          (!sameMajor && 'the addon of this run was not compiled against this major') ||
          (hasCudaDriver && 'a CUDA driver is installed'),
      }, () => {
        const plan = planBytes(lib.version).toString('base64');
        const r = inChild(settleSnippet(`trt.inspectEngine(Buffer.from('${plan}', 'base64'))`), envFor(lib)) as {
          code: string;
          message: string;
        };
        assert.equal(r.code, 'MSB_TENSORRT_UNAVAILABLE');
        assert.match(r.message, /^no CUDA device: no CUDA driver: libcuda\.so\.1: cannot open shared object file/);
      });

      it("TensorRT's own runtime factory failing without a driver is a typed error (the pointer it returns is never used)", {
        skip:
          (!sameMajor && 'the addon of this run was not compiled against this major') ||
          (hasCudaDriver && 'a CUDA driver is installed'),
      }, () => {
        // The addon's device check passes (the libcuda double lists a device); the real library's own CUDA runtime
        // finds no driver, logs it and returns a non-null pointer that is no object (0x228 in 10.16 and 11.1).
        const plan = planBytes(lib.version).toString('base64');
        const r = inChild(
          settleSnippet(`trt.inspectEngine(Buffer.from('${plan}', 'base64'))`),
          envFor(lib, { MSB_LIBCUDA: libcudaDouble }),
        ) as { code: string; message: string };
        assert.equal(r.code, 'MSB_TENSORRT_UNAVAILABLE');
        assert.match(r.message, /^createInferRuntime failed: .*CUDA initialization failure with error: 35/);
      });

      it('a build says the runtime has no builder', {
        skip:
          ((!sameMajor || !runtimeOnly) && 'needs the addon compiled against this major and a lean runtime') ||
          skipWithout(alexnet),
      }, () => {
        const r = inChild(settleSnippet(`trt.buildEngine({ onnx: ${JSON.stringify(alexnet)} })`), envFor(lib)) as {
          code: string;
          message: string;
        };
        assert.equal(r.code, 'MSB_TENSORRT_UNAVAILABLE');
        assert.match(r.message, /is a runtime without the builder/);
      });

      it('msb inspect model.plan answers from the plan header', async () => {
        const plan = path.join(tmp, `model-${lib.major}.plan`);
        await writeFile(plan, planBytes(lib.version));
        const env = envFor(lib);
        const ok = await runCli(['inspect', plan, '--input', 'x:FP32:-1,4', '--output', 'y:FP32:-1,2', '--json'], {
          env,
        });
        assert.equal(ok.code, 0, ok.stderr);
        const sig = JSON.parse(ok.stdout);
        assert.equal(sig.metadata.tensorrtVersion, lib.version);
        assert.equal(sig.metadata.signatureSource, 'options');
        // Without tensors given, inspect shows what the header says and that the tensors need TensorRT (exit 0).
        const bare = await runCli(['inspect', plan], { env });
        assert.equal(bare.code, 0, bare.stderr);
        assert.match(bare.stdout, new RegExp(`tensorrtVersion\\t${lib.version.replaceAll('.', '\\.')}\\n`));
        assert.match(bare.stdout, /^tensors: a TensorRT plan does not reveal its inputs and outputs without TensorRT/m);
        if (sameMajor && runtimeOnly && !hasCudaDriver) {
          // The runtime was asked and said why it could not read the plan.
          assert.match(
            bare.stdout + bare.stderr,
            /TensorRT is installed here but cannot read the plan: no CUDA device/,
          );
        }
      });
    });
  }
});
