/**
 * The addon as built by `npm ci` on a machine without TensorRT or a GPU: it loads, says why TensorRT and CUDA are
 * unavailable, and the native calls (thread, events, promise) reject with MSB_TENSORRT_UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { buildEngine, cuda, inspectEngine, tensorrt } from '../../src/tensorrt/index.js';
import { addonPath, loadAddon } from '../../src/tensorrt/native.js';
import { runCli } from '../helpers/cli.js';
import { repoRoot, skipWithout, testdata } from '../helpers/paths.js';

const alexnet = testdata('onnx', 'onnx-backend', 'light', 'light_bvlc_alexnet.onnx');
const hasCudaDriver = spawnSync('sh', ['-c', 'ldconfig -p | grep -q "libcuda.so.1 "']).status === 0;

/** Runs a snippet in a fresh Node (the driver and TensorRT are loaded once per process) with extra env. */
function inChild(code: string, env: Record<string, string>): unknown {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const rejectsWith = (code: string) => (err: unknown) => {
  assert.ok(isMsbError(err, code), `expected ${code}, got ${String((err as Error)?.stack ?? err)}`);
  return true;
};

describe('native addon', () => {
  it('was built by npm ci and loads', () => {
    assert.ok(existsSync(addonPath()), `${addonPath()} missing`);
    const status = tensorrt.status();
    assert.equal(typeof status.available, 'boolean');
  });

  it('reports TensorRT unavailable with the reason', () => {
    const status = tensorrt.status();
    assert.equal(status.available, false);
    assert.equal(status.code, 'MSB_TENSORRT_UNAVAILABLE');
    if (status.compiledAgainst === undefined) {
      assert.match(status.reason ?? '', /built without TensorRT.*TENSORRT_ROOT/);
      assert.equal(status.capabilities, undefined);
    } else {
      assert.match(status.reason ?? '', /libnvinfer\.so\.1[01]/);
    }
  });

  it('reports its bound on concurrent native calls (1 build, 4 inspects; env overrides, 1..64)', () => {
    assert.deepEqual(tensorrt.status().concurrency, { builds: 1, inspects: 4 });
    const status = inChild(
      "import { tensorrt } from './src/tensorrt/index.ts'; console.log(JSON.stringify(tensorrt.status()));",
      { MSB_NATIVE_BUILD_THREADS: '2', MSB_NATIVE_INSPECT_THREADS: '65' },
    ) as { concurrency: unknown };
    assert.deepEqual(status.concurrency, { builds: 2, inspects: 4 });
  });

  it('reports no CUDA devices with the reason', { skip: hasCudaDriver && 'a CUDA driver is installed' }, () => {
    const result = cuda.devices();
    assert.deepEqual(result.devices, []);
    assert.match(result.reason ?? '', /no CUDA driver: .*libcuda\.so\.1/);
  });

  it('names the driver library it tried (MSB_LIBCUDA)', () => {
    const result = inChild(
      "import { cuda } from './src/tensorrt/index.ts'; console.log(JSON.stringify(cuda.devices()));",
      { MSB_LIBCUDA: '/nonexistent/libcuda.so.1' },
    ) as { devices: unknown[]; reason: string };
    assert.deepEqual(result.devices, []);
    assert.match(result.reason, /\/nonexistent\/libcuda\.so\.1: cannot open shared object file/);
  });

  it('refuses a library that is not a CUDA driver', () => {
    // libm is a real shared library without the driver API: opened, then rejected for lacking cuInit.
    const result = inChild(
      "import { cuda } from './src/tensorrt/index.ts'; console.log(JSON.stringify(cuda.devices()));",
      { MSB_LIBCUDA: 'libm.so.6' },
    ) as { devices: unknown[]; reason: string };
    assert.deepEqual(result.devices, []);
    assert.match(result.reason, /libm\.so\.6 lacks a driver API entry point/);
  });

  const compiledOut = tensorrt.status().compiledAgainst === undefined && 'the addon was built without TensorRT headers';

  it('names the TensorRT library it tried (MSB_LIBNVINFER)', { skip: compiledOut }, () => {
    const status = inChild(
      "import { tensorrt } from './src/tensorrt/index.ts'; console.log(JSON.stringify(tensorrt.status()));",
      { MSB_LIBNVINFER: '/nonexistent/libnvinfer.so.99' },
    ) as { available: boolean; reason: string };
    assert.equal(status.available, false);
    assert.match(status.reason, /TensorRT library not found: \/nonexistent\/libnvinfer\.so\.99: cannot open/);
  });

  it('refuses a library that is not TensorRT', { skip: compiledOut }, () => {
    const status = inChild(
      "import { tensorrt } from './src/tensorrt/index.ts'; console.log(JSON.stringify(tensorrt.status()));",
      { MSB_LIBNVINFER: 'libm.so.6' },
    ) as { available: boolean; reason: string };
    assert.equal(status.available, false);
    assert.match(status.reason, /libm\.so\.6 lacks TensorRT's exported entry points/);
  });

  it('buildEngine rejects with MSB_TENSORRT_UNAVAILABLE after checking its arguments', {
    skip: skipWithout(alexnet),
  }, async () => {
    const logs: unknown[] = [];
    await assert.rejects(
      buildEngine({ onnx: alexnet, onLog: (m) => logs.push(m), onProgress: (p) => logs.push(p) }),
      rejectsWith('MSB_TENSORRT_UNAVAILABLE'),
    );
    await assert.rejects(buildEngine({ onnx: await readFile(alexnet) }), rejectsWith('MSB_TENSORRT_UNAVAILABLE'));
    assert.deepEqual(logs, []);
  });

  it('buildEngine with an already aborted signal is cancelled before anything runs', {
    skip: skipWithout(alexnet),
  }, async () => {
    await assert.rejects(
      buildEngine({ onnx: alexnet, signal: AbortSignal.abort() }),
      rejectsWith('MSB_TENSORRT_CANCELLED'),
    );
  });

  it('many concurrent native calls settle (threads and event channels are released)', {
    skip: skipWithout(alexnet),
  }, async () => {
    const bytes = await readFile(alexnet);
    const results = await Promise.allSettled(
      Array.from({ length: 32 }, (_, i) => (i % 2 ? inspectEngine(bytes) : buildEngine({ onnx: bytes }))),
    );
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      rejectsWith('MSB_TENSORRT_UNAVAILABLE')(r.status === 'rejected' ? r.reason : undefined);
    }
  });

  it('inspectEngine rejects with MSB_TENSORRT_UNAVAILABLE for a readable plan', {
    skip: skipWithout(alexnet),
  }, async () => {
    await assert.rejects(inspectEngine(alexnet), rejectsWith('MSB_TENSORRT_UNAVAILABLE'));
  });

  it('inspectEngine checks its argument first', async () => {
    await assert.rejects(inspectEngine('/nonexistent/model.plan'), (err: unknown) => {
      rejectsWith('MSB_TENSORRT_INVALID_ARGUMENT')(err);
      assert.match((err as Error).message, /\/nonexistent\/model\.plan: no such file/);
      return true;
    });
    await assert.rejects(inspectEngine(new Uint8Array(0)), rejectsWith('MSB_TENSORRT_INVALID_ARGUMENT'));
    await assert.rejects(inspectEngine(''), rejectsWith('MSB_TENSORRT_INVALID_ARGUMENT'));
    await assert.rejects(inspectEngine(42 as unknown as string), rejectsWith('MSB_TENSORRT_INVALID_ARGUMENT'));
    await assert.rejects(inspectEngine(path.join(repoRoot, 'test')), (err: unknown) => {
      assert.match((err as Error).message, /is not a regular file/);
      return true;
    });
  });
});

describe('msb tensorrt / msb devices', () => {
  it('status --json says unavailable and exits 1', async () => {
    const r = await runCli(['tensorrt', 'status', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.available, false);
    assert.deepEqual(json, JSON.parse(JSON.stringify(tensorrt.status())));
  });

  it('devices --json lists none with the reason and exits 1', {
    skip: hasCudaDriver && 'a CUDA driver is installed',
  }, async () => {
    const r = await runCli(['devices', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), cuda.devices());
  });

  it('inspect of a missing plan is an error (exit 2)', async () => {
    const r = await runCli(['tensorrt', 'inspect', '/nonexistent/model.plan']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /MSB_TENSORRT_INVALID_ARGUMENT: TensorRT plan \/nonexistent\/model\.plan: no such file/);
  });
});

describe('native boundary', () => {
  it('a malformed request from the TS layer becomes a JS exception, not a crash', () => {
    const loaded = loadAddon();
    assert.ok('addon' in loaded);
    const noop = () => {};
    assert.throws(() => loaded.addon.buildEngine({} as never, noop), Error);
    assert.throws(() => loaded.addon.inspectEngine('plan' as never, noop), Error);
  });
});
