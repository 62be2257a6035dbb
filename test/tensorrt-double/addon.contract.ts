/**
 * The real addon (built with ASan/UBSan against real TensorRT headers) end to end against the TensorRT double built
 * from the same headers. Run by `npm run test:tensorrt-contract` (test/tensorrt-double/run.sh), which sets
 * MSB_NATIVE_ADDON, MSB_LIBNVINFER, MSB_LIBNVONNXPARSER and MSB_LIBCUDA. What this proves and what it cannot:
 * docs/tensorrt-double.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { inspectOnnx } from '../../src/inspect/index.js';
import { writeSampleModels } from '../../src/jobs/samples.js';
import {
  type BuildEngineOptions,
  type BuildProgress,
  buildEngine,
  cuda,
  engineToModelSignature,
  inspectEngine,
  type LogMessage,
  tensorrt,
} from '../../src/tensorrt/index.js';
import { loadAddon } from '../../src/tensorrt/native.js';
import { writeOnnxWithSignature } from '../fixtures/onnx-signature.js';
import { skipWithout, testdata } from '../helpers/paths.js';

// The sanitizer runtime is preloaded for this process only: redis-server and python run without it.
delete process.env.LD_PRELOAD;
const viaRunner = process.env.MSB_LIBNVINFER && process.env.MSB_NATIVE_ADDON;
const skip = !viaRunner && 'run through `npm run test:tensorrt-contract` (needs MSB_TENSORRT_HEADERS)';

/** Sets the double's MSB_DOUBLE_* knobs for the duration of `fn` (the double reads them on its own threads). */
async function withKnobs<T>(knobs: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  Object.assign(process.env, knobs);
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(knobs)) delete process.env[k];
  }
}

const rejectsWith = (code: string, message?: RegExp) => (err: unknown) => {
  assert.ok(isMsbError(err, code), `expected ${code}, got ${String((err as Error)?.stack ?? err)}`);
  if (message) assert.match((err as Error).message, message);
  return true;
};

let dir: string;
let identity: string; // INPUT0 [batch,16] -> OUTPUT0 [batch,16], one Identity node
let classifier: string; // x [N,8] -> probs [N,4]: MatMul, Add, Softmax with initializers W, b
let twoInputs: string; // a FLOAT16 [batch,3], b INT64 [batch,seq] -> c FLOAT [batch,3], d INT32 [batch]
let major: number;
const profile = { INPUT0: { min: [1, 16], opt: [4, 16], max: [8, 16] } };

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), 'msb-trt-contract-'));
  const samples = await writeSampleModels(dir);
  identity = samples.find((s) => s.name === 'identity')?.file as string;
  classifier = samples.find((s) => s.name === 'linear_classifier')?.file as string;
  twoInputs = path.join(dir, 'two-inputs.onnx');
  writeOnnxWithSignature(twoInputs, {
    inputs: [
      { name: 'a', type: 'FLOAT16', shape: ['batch', 3] },
      { name: 'b', type: 'INT64', shape: ['batch', 'seq'] },
    ],
    outputs: [
      { name: 'c', type: 'FLOAT', shape: ['batch', 3] },
      { name: 'd', type: 'INT32', shape: ['batch', 'seq'] },
    ],
  });
  major = Number(tensorrt.status().compiledAgainst?.split('.')[0]);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the addon against the TensorRT double', { skip }, () => {
  it('status(): the double is loaded, of the headers’ version, with its capabilities and the concurrency bound', () => {
    const s = tensorrt.status();
    assert.equal(s.available, true, s.reason);
    assert.equal(s.version, s.compiledAgainst);
    assert.equal(s.library, process.env.MSB_LIBNVINFER);
    assert.equal(s.parserLibrary, process.env.MSB_LIBNVONNXPARSER);
    assert.deepEqual(s.capabilities?.precision, major === 10);
    assert.deepEqual(s.concurrency, { builds: 1, inspects: 4 });
    const { devices } = cuda.devices();
    assert.deepEqual(
      devices.map((d) => [d.name, d.computeCapability, d.uuid]),
      [['msb TensorRT double GPU', '8.6', 'GPU-d0d1d2d3-d4d5-d6d7-d8d9-dadbdcdddedf']],
    );
  });

  it('buildEngine maps every option and each profile into TensorRT; the signature comes from the model', async () => {
    const pools = {
      workspace: 1 << 30,
      dlaManagedSram: 1 << 20,
      dlaLocalDram: 2 << 20,
      dlaGlobalDram: 3 << 20,
      tacticDram: 4 << 20,
      tacticSharedMemory: 48 << 10,
    };
    const profiles = [
      { a: { min: [1, 3], opt: [2, 3], max: [4, 3] }, b: { min: [1, 1], opt: [2, 8], max: [4, 16] } },
      { a: { min: [8, 3], opt: [16, 3], max: [32, 3] }, b: { min: [8, 1], opt: [16, 8], max: [32, 64] } },
    ];
    const options: BuildEngineOptions = {
      onnx: twoInputs,
      profiles,
      memoryPools: pools,
      versionCompatible: true,
      hardwareCompatibility: 'same-compute-capability',
      optimizationLevel: 5,
      maxAuxStreams: 2,
    };
    if (major === 10) options.precision = ['fp16', 'int8'];
    const r = await buildEngine(options);
    const info = (r.signature.engineInformation as { msbDouble: Record<string, unknown> }).msbDouble;
    assert.deepEqual(info.flags, major === 10 ? ['kFP16', 'kINT8', 'kVERSION_COMPATIBLE'] : ['kVERSION_COMPATIBLE']);
    // MemoryPoolType: kWORKSPACE 0, kDLA_MANAGED_SRAM 1, kDLA_LOCAL_DRAM 2, kDLA_GLOBAL_DRAM 3, kTACTIC_DRAM 4,
    // kTACTIC_SHARED_MEMORY 5 (NvInfer.h).
    assert.deepEqual(info.memoryPools, {
      0: pools.workspace,
      1: pools.dlaManagedSram,
      2: pools.dlaLocalDram,
      3: pools.dlaGlobalDram,
      4: pools.tacticDram,
      5: pools.tacticSharedMemory,
    });
    assert.equal(info.hardwareCompatibilityLevel, 2); // kSAME_COMPUTE_CAPABILITY
    assert.equal(info.builderOptimizationLevel, 5);
    assert.equal(info.maxAuxStreams, 2);
    assert.equal(info.networkFlags, 0); // TensorRT 10 with precision flags: weakly typed; 11: no flags
    assert.equal(info.timingCache, true);
    assert.equal(info.progressMonitor, true);

    const sig = r.signature;
    assert.equal(sig.tensorrtVersion, tensorrt.status().version);
    assert.equal(sig.profiles, 2);
    assert.equal(sig.layers, 2);
    assert.deepEqual(
      sig.inputs.map((t) => [t.name, t.tensorrtDataType, t.dataType, t.dims, t.profiles]),
      [
        ['a', 'kHALF', 'TYPE_FP16', [-1, 3], profiles.map((p) => p.a)],
        ['b', 'kINT64', 'TYPE_INT64', [-1, -1], profiles.map((p) => p.b)],
      ],
    );
    assert.deepEqual(
      sig.outputs.map((t) => [t.name, t.tensorrtDataType, t.dims]),
      [
        ['c', 'kFLOAT', [-1, 3]],
        ['d', 'kINT32', [-1, -1]],
      ],
    );
    assert.equal(r.signature.inputs[0]?.format, 'Row major linear FP16 format (kLINEAR)');
    // The plan starts as msb's plan reader expects a TensorRT plan to: "ftrt", the version at bytes 24..26.
    assert.equal(Buffer.from(r.plan.subarray(0, 4)).toString(), 'ftrt');
    assert.deepEqual([...r.plan.subarray(24, 26)], tensorrt.status().version?.split('.').slice(0, 2).map(Number));
  });

  it('TensorRT 10 without precision builds a strongly typed network; precision is refused natively on 11', async () => {
    const r = await buildEngine({ onnx: identity, profiles: [profile] });
    const info = (r.signature.engineInformation as { msbDouble: Record<string, unknown> }).msbDouble;
    assert.equal(info.networkFlags, major === 10 ? 2 : 0); // 1 << kSTRONGLY_TYPED (1)
    assert.deepEqual(info.flags, []);
    if (major === 11) {
      // Past the TS check, straight to the addon: its own refusal, before TensorRT is asked.
      const loaded = loadAddon();
      assert.ok('addon' in loaded);
      const handle = loaded.addon.buildEngine(
        {
          onnxPath: identity,
          profiles: [[{ input: 'INPUT0', ...profile.INPUT0 }]],
          precision: ['fp16'],
          memoryPools: [],
          versionCompatible: false,
          hardwareCompatibility: 'none',
          optimizationLevel: -1,
          maxAuxStreams: -1,
        },
        () => {},
      );
      await assert.rejects(handle.promise, (err: Error & { code?: string }) => {
        assert.equal(err.code, 'MSB_TENSORRT_INVALID_ARGUMENT');
        assert.match(err.message, /precision flags do not exist in TensorRT 11/);
        return true;
      });
    }
  });

  it('progress and logs arrive on the JS thread in TensorRT’s order, before the promise settles', async () => {
    const events: string[] = [];
    const progress: BuildProgress[] = [];
    const logs: LogMessage[] = [];
    const r = await buildEngine({
      onnx: twoInputs,
      profiles: [
        { a: { min: [1, 3], opt: [1, 3], max: [1, 3] }, b: { min: [1, 1], opt: [1, 1], max: [1, 1] } },
        { a: { min: [2, 3], opt: [2, 3], max: [2, 3] }, b: { min: [2, 2], opt: [2, 2], max: [2, 2] } },
      ],
      onProgress: (p) => {
        progress.push(p);
        events.push(`${p.parentPhase ? '  ' : ''}${p.phase} ${p.step}/${p.steps}`);
      },
      onLog: (m) => logs.push(m),
    });
    assert.ok(r.plan.byteLength > 32);
    // Two profiles: per profile a nested phase of one step per input, then the outer step; then serialization.
    assert.deepEqual(events, [
      'Building engine 0/3',
      '  Tactic selection 0/2',
      '  Tactic selection 1/2',
      '  Tactic selection 2/2',
      '  Tactic selection 2/2',
      'Building engine 1/3',
      '  Tactic selection 0/2',
      '  Tactic selection 1/2',
      '  Tactic selection 2/2',
      '  Tactic selection 2/2',
      'Building engine 2/3',
      'Building engine 3/3',
      'Building engine 3/3',
    ]);
    const percents = progress.map((p) => p.percent);
    assert.deepEqual(
      percents,
      [...percents].sort((x, y) => x - y),
      'percent never drops',
    );
    assert.equal(percents.at(-1), 100);
    assert.ok(logs.some((l) => l.severity === 'info' && /building 'g' with 2 optimization profile/.test(l.message)));
    assert.deepEqual(r.warnings, []);
  });

  it('an AbortSignal cancels a build mid-way at the next step; the pool runs the next build', async () => {
    const controller = new AbortController();
    let steps = 0;
    await withKnobs({ MSB_DOUBLE_STEP_MS: '150' }, () =>
      assert.rejects(
        buildEngine({
          onnx: identity,
          profiles: [profile, profile, profile, profile, profile],
          signal: controller.signal,
          onProgress: () => {
            if (++steps === 3) controller.abort();
          },
        }),
        rejectsWith('MSB_TENSORRT_CANCELLED', /the build was cancelled/),
      ),
    );
    // Events are queued to JS, not awaited, so the builder thread sees the flag at the first stepComplete after the
    // abort reached the addon, then finishes the open phases. The whole build would report 1 + 5 x 4 + 2 = 23.
    assert.ok(steps <= 12, `${steps} progress reports: the build was not stopped early`);
    const r = await buildEngine({ onnx: identity, profiles: [profile] });
    assert.ok(r.plan.byteLength > 0);
  });

  it('a build waiting for the build pool is cancelled without reaching TensorRT', async () => {
    const logsOfSecond: LogMessage[] = [];
    const controller = new AbortController();
    let second: Promise<unknown> | undefined;
    let reports = 0;
    // The second build is called once the first runs (the pool has one build thread), and aborted while it waits.
    const first = await withKnobs({ MSB_DOUBLE_STEP_MS: '100' }, () =>
      buildEngine({
        onnx: identity,
        profiles: [profile, profile, profile],
        onProgress: () => {
          reports++;
          if (reports === 1) {
            second = buildEngine({
              onnx: identity,
              profiles: [profile],
              signal: controller.signal,
              onLog: (m) => logsOfSecond.push(m),
            });
            second.catch(() => {});
          }
          if (reports === 4) controller.abort();
        },
      }),
    );
    assert.ok(first.plan.byteLength > 0);
    await assert.rejects(
      second as Promise<unknown>,
      rejectsWith('MSB_TENSORRT_CANCELLED', /cancelled while it waited for a build thread/),
    );
    assert.deepEqual(logsOfSecond, [], 'TensorRT never logged for the cancelled build');
  });

  it('a throwing callback cancels the build and its error is the rejection', async () => {
    const boom = new Error('boom from onProgress');
    let after = 0;
    await withKnobs({ MSB_DOUBLE_STEP_MS: '100' }, () =>
      assert.rejects(
        buildEngine({
          onnx: identity,
          profiles: [profile, profile, profile, profile],
          onProgress: () => {
            after++;
            throw boom;
          },
        }),
        (err) => err === boom,
      ),
    );
    // The first report throws and cancels; the builder thread stops at the next stepComplete that sees it (reports
    // are queued, not awaited, so one more step may complete first). The whole build would report 1 + 4 x 4 + 2 = 19.
    assert.ok(after <= 9, `the build went on for ${after} progress reports`);
  });

  it('parser errors reject with MSB_TENSORRT_ONNX_PARSE and every error in details.parserErrors', async () => {
    await withKnobs({ MSB_DOUBLE_UNSUPPORTED_OPS: 'MatMul,Softmax' }, () =>
      assert.rejects(
        buildEngine({ onnx: classifier, profiles: [{ x: { min: [1, 8], opt: [2, 8], max: [4, 8] } }] }),
        (err) => {
          rejectsWith(
            'MSB_TENSORRT_ONNX_PARSE',
            /at node 0 'matmul' \(MatMul\): No importer registered for op: MatMul \(and 1 more\)/,
          )(err);
          const details = (err as { details: { parserErrors: Record<string, unknown>[] } }).details;
          assert.deepEqual(
            details.parserErrors.map((e) => [e.node, e.nodeName, e.op, e.description, e.code, e.file]),
            [
              [0, 'matmul', 'MatMul', 'No importer registered for op: MatMul', 8, 'test/tensorrt-double/onnxparser.cc'],
              [
                2,
                'softmax',
                'Softmax',
                'No importer registered for op: Softmax',
                8,
                'test/tensorrt-double/onnxparser.cc',
              ],
            ],
          );
          return true;
        },
      ),
    );
    // From the model itself: FP64 is a Triton type msb reads, but no TensorRT network input type.
    const fp64 = path.join(dir, 'fp64.onnx');
    writeOnnxWithSignature(fp64, {
      inputs: [{ name: 'x', type: 'DOUBLE', shape: [2] }],
      outputs: [{ name: 'y', type: 'FLOAT', shape: [2] }],
    });
    await assert.rejects(buildEngine({ onnx: await readFile(fp64) }), (err) => {
      rejectsWith('MSB_TENSORRT_ONNX_PARSE', /input 'x' has ONNX element type 11/)(err);
      const [e] = (err as { details: { parserErrors: { code: number; node: number }[] } }).details.parserErrors;
      assert.deepEqual([e?.code, e?.node], [7, -1]); // kUNSUPPORTED_GRAPH, no node
      return true;
    });
  });

  it('a null serialized network, an out-of-memory log line and warnings reach the caller', async () => {
    await withKnobs({ MSB_DOUBLE_FAIL_BUILD: 'null' }, () =>
      assert.rejects(
        buildEngine({ onnx: identity, profiles: [profile] }),
        rejectsWith('MSB_TENSORRT_BUILD_FAILED', /^buildSerializedNetwork failed: no reason given$/),
      ),
    );
    await withKnobs({ MSB_DOUBLE_FAIL_BUILD: 'oom' }, () =>
      assert.rejects(
        buildEngine({ onnx: identity, profiles: [profile] }),
        rejectsWith('MSB_TENSORRT_BUILD_FAILED', /buildSerializedNetwork failed: Requested amount of GPU memory/),
      ),
    );
    const r = await withKnobs({ MSB_DOUBLE_WARNING: 'weights were converted to FP16' }, () =>
      buildEngine({ onnx: identity, profiles: [profile] }),
    );
    assert.deepEqual(r.warnings, ['weights were converted to FP16']);
  });

  it('timing cache round trip: the second build hits the first build’s entries; a foreign cache is refused', async () => {
    const first = await buildEngine({ onnx: identity, profiles: [profile] });
    assert.ok(first.timingCache);
    const logs: string[] = [];
    const second = await buildEngine({
      onnx: identity,
      profiles: [profile, { INPUT0: { min: [16, 16], opt: [16, 16], max: [16, 16] } }],
      timingCache: first.timingCache,
      onLog: (m) => logs.push(m.message),
    });
    assert.ok(logs.includes('msb TensorRT double: timing cache hits 1, misses 1'), logs.join('\n'));
    assert.ok((second.timingCache?.byteLength ?? 0) > (first.timingCache?.byteLength ?? 0));
    await assert.rejects(
      buildEngine({ onnx: identity, profiles: [profile], timingCache: new TextEncoder().encode('not a cache') }),
      rejectsWith('MSB_TENSORRT_INVALID_ARGUMENT', /rejected the timing cache/),
    );
  });

  it('inspectEngine reads a plan (bytes or path) and engineToModelSignature makes it a ModelSignature', async () => {
    const built = await buildEngine({
      onnx: identity,
      profiles: [profile, { INPUT0: { min: [1, 16], opt: [16, 16], max: [32, 16] } }],
    });
    const file = path.join(dir, 'identity.plan');
    await writeFile(file, built.plan);
    const [fromBytes, fromFile] = await Promise.all([inspectEngine(built.plan), inspectEngine(file)]);
    assert.deepEqual(fromBytes, built.signature);
    assert.deepEqual(fromFile, built.signature);
    const model = engineToModelSignature(fromBytes);
    assert.deepEqual(
      { inputs: model.inputs, outputs: model.outputs, batchDim: model.batchDim, maxBatchSize: model.maxBatchSize },
      {
        inputs: [{ name: 'INPUT0', dataType: 'TYPE_FP32', dims: [-1, 16] }],
        outputs: [{ name: 'OUTPUT0', dataType: 'TYPE_FP32', dims: [-1, 16] }],
        batchDim: true,
        maxBatchSize: 32,
      },
    );
    const corrupt = Uint8Array.from(built.plan);
    corrupt[0] = 0x67;
    await assert.rejects(
      inspectEngine(corrupt),
      rejectsWith('MSB_TENSORRT_INVALID_ARGUMENT', /could not deserialize the plan: .*Magic tag does not match/),
    );
  });

  const alexnet = testdata('onnx', 'onnx-backend', 'light', 'light_bvlc_alexnet.onnx');
  it('a real model: the engine’s signature is the one msb’s ONNX reader sees (initializers listed as inputs)', {
    skip: skipWithout(alexnet),
  }, async () => {
    const r = await buildEngine({ onnx: alexnet });
    const expected = (await inspectOnnx(alexnet)).signature;
    const got = engineToModelSignature(r.signature);
    assert.deepEqual(
      got.inputs,
      expected.inputs.map(({ dimParams: _, ...t }) => t),
    );
    assert.deepEqual(
      got.outputs,
      expected.outputs.map(({ dimParams: _, ...t }) => t),
    );
  });

  it('50 concurrent inspects all resolve, never more than the bound at once in TensorRT', async () => {
    const built = await buildEngine({ onnx: identity, profiles: [profile] });
    const bound = tensorrt.status().concurrency?.inspects ?? 0;
    let peak = 0;
    const results = await withKnobs({ MSB_DOUBLE_DESERIALIZE_MS: '40' }, () =>
      Promise.all(
        Array.from({ length: 50 }, () =>
          inspectEngine(built.plan, {
            onLog: (m) => {
              const n = /deserializing, in flight (\d+)/.exec(m.message)?.[1];
              if (n) peak = Math.max(peak, Number(n));
            },
          }),
        ),
      ),
    );
    assert.equal(results.length, 50);
    for (const r of results) assert.deepEqual(r, built.signature);
    assert.equal(peak, bound, `peak ${peak} deserializations at once, bound ${bound}`);
  });

  it('the double’s contract assertions fire: each broken lifetime rule aborts, citing TensorRT’s header', () => {
    const probe = path.join(path.dirname(process.env.MSB_LIBNVINFER as string), 'contract-probe');
    const run = (scenario: string) =>
      spawnSync(probe, [scenario, identity], {
        encoding: 'utf8',
        env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' },
        timeout: 30_000,
      });
    const ok = run('ok');
    assert.equal(ok.status, 0, ok.stderr);
    const cases: [string, RegExp][] = [
      [
        'builder-before-network',
        /IBuilder was deleted before 1 INetworkDefinition.*must be destroyed with operator delete/s,
      ],
      ['network-before-parser', /INetworkDefinition was deleted while the IParser created for it is still alive/],
      ['parse-twice', /designed to only parse one ONNX model once/],
      ['foreign-profile', /not one of this config's builder.*builder retains ownership/s],
      ['cache-before-builder', /lifetime of the ITimingCache must exceed the lifetime of all builders that use it/],
      ['runtime-before-engine', /Destroying the IRuntime before destroying all associated ICudaEngine/],
      ['leak-plan', /IHostMemory 0x[0-9a-f]+ was never deleted by its owner/],
    ];
    for (const [scenario, message] of cases) {
      const r = run(scenario);
      assert.equal(r.signal, 'SIGABRT', `${scenario}: exit ${r.status}, ${r.stderr}`);
      assert.match(r.stderr, /CONTRACT VIOLATED/, scenario);
      assert.match(r.stderr, message, scenario);
    }
  });
});
