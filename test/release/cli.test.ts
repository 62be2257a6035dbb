/**
 * `--triton`, `MSB_TRITON_RELEASE`, the store's default and `--gpus` through the real CLI: exit 0 (clean, or only
 * warnings), 1 (validate and config check found errors), 2 (refused: bad input or an incompatible publish, one line
 * `msb: CODE: message`, no stack, nothing written).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { type CliResult, runCli } from '../helpers/cli.js';
import { pythonHasOnnx } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';
import { makeOnnx, makePlan } from './fixtures.js';

const hasOnnx = pythonHasOnnx();
const noOnnx = hasOnnx ? false : 'needs python3-onnx (/usr/bin/python3, or MSB_PYTHON)';
const dir = await tempDir('msb-release-cli-');
const onnx = hasOnnx ? makeOnnx(dir) : { opset13: '', opset22: '' };
// No inherited release: each test says which one it means.
const env = { MSB_TRITON_RELEASE: '' };
const msb = (args: string[], more: Record<string, string> = {}) => runCli(args, { env: { ...env, ...more } });

/** A refusal: exit 2 and exactly one line `msb: CODE: …` on stderr. */
function refused(r: CliResult, code: string): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', new RegExp(`^msb: ${code}: `));
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const rulesOf = (r: CliResult) =>
  (JSON.parse(r.stdout) as { rule: string; severity: string }[]).map((p) => `${p.severity}:${p.rule}`).sort();

test('msb validate --triton: exit 1 on an opset its ONNX Runtime lacks, 0 on warnings, 2 on an unknown release', {
  skip: noOnnx,
}, async () => {
  const store = path.join(dir, 'store');
  for (const [name, file] of [
    ['old', onnx.opset13],
    ['new', onnx.opset22],
  ] as const) {
    const r = await msb(['add', '--store-path', store, '--onnx', file, '--name', name]);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal((await msb(['validate', store])).code, 0);

  const bad = await msb(['validate', store, '--triton', '24.10', '--json']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.deepEqual(rulesOf(bad), ['error:release-onnx-opset']);
  const table = await msb(['validate', store, '--triton', '24.10']);
  assert.equal(table.code, 1);
  assert.match(table.stdout, /new\/1\/model\.onnx\trelease-onnx-opset\tversion 1: opset 22 is above 21/);

  const warned = await msb(['validate', store, '--triton', '25.11', '--json']);
  assert.equal(warned.code, 0, warned.stderr);
  assert.deepEqual(rulesOf(warned), ['warning:release-onnx-opset-unknown', 'warning:release-onnx-opset-unknown']);

  const unknown = await msb(['validate', store, '--triton', '99.01']);
  refused(unknown, 'MSB_RELEASE_UNKNOWN');
  assert.match(unknown.stderr, /known: 24\.10, .*26\.07/);
});

test('release precedence: --triton over MSB_TRITON_RELEASE over the store default (msb init --triton)', {
  skip: noOnnx,
}, async () => {
  const store = path.join(dir, 'precedence');
  refused(await msb(['init', store, '--triton', '9.9']), 'MSB_RELEASE_UNKNOWN');
  assert.equal(existsSync(store), false, 'an unknown release creates no store');
  const init = await msb(['init', store, '--triton', '24.10', '--json']);
  assert.equal(init.code, 0, init.stderr);
  assert.deepEqual(JSON.parse(init.stdout), { store, triton: '24.10' });
  // the store's default refuses the publish of opset 22...
  refused(await msb(['add', '--store-path', store, '--onnx', onnx.opset22]), 'MSB_RELEASE_INCOMPATIBLE');
  assert.deepEqual(await readdir(store), ['msb-store.json'], 'nothing written');
  // ...the environment wins over it, and the flag over both
  const viaEnv = await msb(['add', '--store-path', store, '--onnx', onnx.opset22], { MSB_TRITON_RELEASE: '25.11' });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.match(viaEnv.stderr, /^msb: warning: .*relu22\.onnx: release-onnx-opset-unknown: /m);
  assert.equal((await msb(['validate', store])).code, 1);
  assert.equal((await msb(['validate', store], { MSB_TRITON_RELEASE: '25.11' })).code, 0);
  assert.equal((await msb(['validate', store, '--triton', '24.10'], { MSB_TRITON_RELEASE: '25.11' })).code, 1);
  assert.equal((await msb(['validate', store, '--triton', '25.11'], { MSB_TRITON_RELEASE: '24.10' })).code, 0);
  refused(await msb(['validate', store], { MSB_TRITON_RELEASE: 'latest' }), 'MSB_RELEASE_UNKNOWN');
});

test('msb add and msb version add refuse an incompatible file (exit 2, nothing written); --force publishes it', {
  skip: noOnnx,
}, async () => {
  const store = path.join(dir, 'publish');
  refused(
    await msb(['add', '--store-path', store, '--onnx', onnx.opset22, '--triton', '24.10']),
    'MSB_RELEASE_INCOMPATIBLE',
  );
  assert.equal(existsSync(store), false, 'a refused add creates no store');
  const forced = await msb([
    'add',
    '--store-path',
    store,
    '--onnx',
    onnx.opset22,
    '--triton',
    '24.10',
    '--force',
    '--json',
  ]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((JSON.parse(forced.stdout) as { version: number }).version, 1);
  assert.match(forced.stderr, /^msb: error: .*relu22\.onnx: release-onnx-opset: opset 22 is above 21/m);

  refused(
    await msb(['version', 'add', store, 'relu22', onnx.opset22, '--triton', '24.10']),
    'MSB_RELEASE_INCOMPATIBLE',
  );
  const v = await msb(['version', 'ls', store, 'relu22', '--json']);
  assert.deepEqual(
    (JSON.parse(v.stdout) as { version: number }[]).map((x) => x.version),
    [1],
  );
  const ok = await msb(['version', 'add', store, 'relu22', onnx.opset22, '--triton', '24.10', '--force', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout), { model: 'relu22', version: 2 });
});

test('msb validate --gpus: a compute capability without a plan it can load is exit 1; a malformed list exit 2', async () => {
  const store = path.join(dir, 'fleet');
  const plan = await makePlan(path.join(dir, 'p86.plan'), [10, 3, 0], { computeCapability: '8.6' });
  const add = await msb(['add', '--store-path', store, '--engine', plan, '--name', 'det']);
  assert.equal(add.code, 0, add.stderr);
  const ok = await msb(['validate', store, '--gpus', '8.6', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(rulesOf(ok), []);
  const bad = await msb(['validate', store, '--gpus', '8.0,8.6,8.9', '--json']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.deepEqual(rulesOf(bad), ['error:gpu-plan', 'error:gpu-plan']);
  // the release's TensorRT is unknown in the table: a warning
  const unknown = await msb(['validate', store, '--triton', '25.01', '--json']);
  assert.equal(unknown.code, 0, unknown.stderr);
  assert.deepEqual(rulesOf(unknown), ['warning:release-tensorrt-unknown']);
  refused(await msb(['validate', store, '--gpus', 'sm86']), 'MSB_RELEASE_BAD_GPUS');
  // a publish for a fleet the plan does not fit
  refused(await msb(['version', 'add', store, 'det', plan, '--gpus', '8.0,8.6']), 'MSB_RELEASE_INCOMPATIBLE');
});

test('msb config check --triton checks the versions beside the config', { skip: noOnnx }, async () => {
  const store = path.join(dir, 'config-check');
  assert.equal((await msb(['add', '--store-path', store, '--onnx', onnx.opset22])).code, 0);
  const config = path.join(store, 'relu22', 'config.pbtxt');
  assert.equal((await msb(['config', 'check', config])).code, 0);
  const bad = await msb(['config', 'check', config, '--triton', '24.10']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /error: relu22\/1\/model\.onnx: version 1: opset 22 is above 21.*\[release-onnx-opset\]/);
  assert.equal((await msb(['config', 'check', config, '--triton', '25.11'])).code, 0);
  refused(await msb(['config', 'check', config, '--triton', '1.0']), 'MSB_RELEASE_UNKNOWN');
});

test('job targets naming a release: unknown TensorRT or release refused before Redis is reached', async () => {
  const redis = ['--redis', 'redis://127.0.0.1:1'];
  const src = path.join(dir, 'x.onnx');
  const unknownTrt = await msb(['enqueue', 'build', src, '--model', 'm', '--target', 'triton:25.01/8.6', ...redis]);
  refused(unknownTrt, 'MSB_RELEASE_TENSORRT_UNKNOWN');
  assert.match(unknownTrt.stderr, /Triton 25\.01 is unknown/);
  refused(
    await msb(['enqueue', 'build', src, '--model', 'm', '--target', 'triton:99.01/8.6', ...redis]),
    'MSB_RELEASE_UNKNOWN',
  );
  refused(
    await msb(['enqueue', 'build', src, '--model', 'm', '--target', 'triton:25.01', ...redis]),
    'MSB_CLI_ARGUMENT',
  );
});

test('msb worker and msb serve refuse an unknown release or fleet before connecting', async () => {
  const store = path.join(dir, 'serve-store');
  assert.equal((await msb(['init', store])).code, 0);
  const redis = ['--redis', 'redis://127.0.0.1:1'];
  refused(await msb(['worker', '--store', store, '--triton', '99.01', ...redis]), 'MSB_RELEASE_UNKNOWN');
  refused(await msb(['worker', '--store', store, '--gpus', '86', ...redis]), 'MSB_RELEASE_BAD_GPUS');
  refused(
    await msb(['serve', '--store', store, '--artifacts', path.join(dir, 'art'), '--port', '0', ...redis], {
      MSB_TRITON_RELEASE: '99.01',
    }),
    'MSB_RELEASE_UNKNOWN',
  );
});

test('with a release, vLLM engine arguments are checked against the vLLM it pairs with (26.01: 0.13.0)', async () => {
  const store = path.join(dir, 'vllm');
  // an engine argument of vLLM 0.15.1 and later: valid for the newest vLLM msb knows, not for 26.01's
  const arg = ['--set', 'allow_deprecated_quantization=true'];
  const add = await msb(['add', '--store-path', store, '--vllm', 'facebook/opt-125m', ...arg]);
  assert.equal(add.code, 0, add.stderr);
  assert.deepEqual(rulesOf(await msb(['validate', store, '--json'])), []);
  const old = await msb(['validate', store, '--json'], { MSB_TRITON_RELEASE: '26.01' });
  assert.equal(old.code, 1, old.stderr);
  assert.deepEqual(rulesOf(old), ['error:vllm-engine-arg-unknown']);
  assert.match(old.stdout, /not an engine argument of vLLM 0\.13\.0/);
  const refusedAdd = await msb([
    'add',
    '--store-path',
    store,
    '--name',
    'b',
    '--vllm',
    'facebook/opt-125m',
    ...arg,
    '--triton',
    '26.01',
  ]);
  refused(refusedAdd, 'MSB_LLM_ENGINE_ARGS');
  refused(
    await msb(['add', '--store-path', store, '--name', 'c', '--vllm', 'facebook/opt-125m', '--triton', '99.01']),
    'MSB_RELEASE_UNKNOWN',
  );
});
