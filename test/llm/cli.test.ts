/**
 * The LLM paths of the command line: `msb add --vllm`, `msb add --tensorrt-llm`, and what `validate` and
 * `config check` say of vLLM models and of templates — exit codes and one-line errors.
 */
import assert from 'node:assert/strict';
import { cp, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { ph, tensorrtLlmAdd, writeCheckpoint, writeTemplates } from './fixtures.js';

/** One line on stderr, `msb: CODE: …`, and no stack. */
function oneLine(stderr: string, code: string, message: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.ok(lines[0]?.startsWith(`msb: ${code}: `), stderr);
  assert.match(lines[0] ?? '', message);
}

test('msb add --vllm: published (exit 0), refused in one line (exit 2), validate exit 1 on a bad model.json', async () => {
  const dir = await tempDir();
  const store = path.join(dir, 'store');
  const ckpt = await writeCheckpoint(path.join(dir, 'llama'));
  const ok = await runCli(['add', '--store-path', store, '--vllm', ckpt, '--set', 'gpu_memory_utilization=0.85']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `published llama in ${store}\n`);
  const bad = await runCli([
    'add',
    '--store-path',
    store,
    '--vllm',
    ckpt,
    '--name',
    'llama2',
    '--set',
    'gpu_memory_utilization=2',
  ]);
  assert.equal(bad.code, 2);
  oneLine(bad.stderr, 'MSB_LLM_ENGINE_ARGS', /"gpu_memory_utilization" is 2: .* in \(0, 1\]/);
  const usage = await runCli(['add', '--store-path', store, '--vllm', ckpt, '--templates', dir]);
  assert.equal(usage.code, 2);
  oneLine(usage.stderr, 'MSB_CLI_USAGE', /go with --tensorrt-llm/);
  const ignored = await runCli(['add', '--store-path', store, '--vllm', ckpt, '--max-batch-size', '4', '--strict']);
  assert.equal(ignored.code, 2);
  oneLine(ignored.stderr, 'MSB_CLI_USAGE', /--max-batch-size, --strict do not apply to --vllm or --tensorrt-llm/);
  const valid = await runCli(['validate', store]);
  assert.equal(valid.code, 0, valid.stderr);
  assert.equal(valid.stdout, 'ok\n');
  await writeFile(
    path.join(store, 'llama', '1', 'model.json'),
    JSON.stringify({ model: ckpt, disable_log_requests: true }),
  );
  const invalid = await runCli(['validate', store, '--json']);
  assert.equal(invalid.code, 1);
  assert.deepEqual(
    (JSON.parse(invalid.stdout) as { path: string; rule: string }[]).map((p) => [p.path, p.rule]),
    [
      // The publish record notices the edit too.
      ['llama/1/model.json', 'version-changed'],
      ['llama/1/model.json', 'vllm-engine-arg-unknown'],
    ],
  );
});

test('config check: a vLLM config with its model.json (and --gpus); a template names each key and its fix', async () => {
  const dir = await tempDir();
  const store = path.join(dir, 'store');
  assert.equal(
    (await runCli(['add', '--store-path', store, '--vllm', 'facebook/opt-125m', '--set', 'tensor_parallel_size=2']))
      .code,
    0,
  );
  const config = path.join(store, 'opt-125m', 'config.pbtxt');
  assert.equal((await runCli(['config', 'check', config, '--gpus', '0,1'])).code, 0);
  const one = await runCli(['config', 'check', config, '--gpus', '0']);
  assert.equal(one.code, 1);
  assert.match(one.stderr, /1\/model\.json: the engine spans 2 GPUs .* but the machine has 1 \[vllm-parallel-gpus\]/);
  // model.json is checked against the vLLM of the release, as validate checks it: named, else the store's default.
  // swap_space is an engine argument of 26.01's vLLM 0.13.0, not of the newest (0.19.0).
  const pinned = path.join(dir, 'pinned');
  assert.equal((await runCli(['init', pinned, '--triton', '26.01'])).code, 0);
  const added = await runCli(['add', '--store-path', pinned, '--vllm', 'facebook/opt-125m', '--set', 'swap_space=4']);
  assert.equal(added.code, 0, added.stderr);
  const pinnedConfig = path.join(pinned, 'opt-125m', 'config.pbtxt');
  const byDefault = await runCli(['config', 'check', pinnedConfig]);
  assert.equal(byDefault.code, 0, byDefault.stderr);
  const newest = await runCli(['config', 'check', pinnedConfig, '--triton', '26.04']);
  assert.equal(newest.code, 1);
  assert.match(newest.stderr, /"swap_space" is not an engine argument of vLLM 0\.19\.0: .*\[vllm-engine-arg-unknown\]/);
  const templates = await writeTemplates(path.join(dir, 'templates'));
  const check = await runCli(['config', 'check', path.join(templates, 'tensorrt_llm', 'config.pbtxt')]);
  assert.equal(check.code, 1);
  const lines = check.stderr.trimEnd().split('\n');
  // One line per key Triton's parser fails on (and the string one), the unset parameters as warnings; no "got: $".
  assert.ok(
    lines.some((l) =>
      l.includes(
        `tensorrt_llm/config.pbtxt:4:17: ${ph('triton_max_batch_size')} was never filled, and Triton's config parser fails on it ("got: $"); fill it: --set triton_max_batch_size=… [template-placeholder]`,
      ),
    ),
    check.stderr,
  );
  assert.deepEqual(
    lines.map((l) => /\[([a-z-]+)\]$/.exec(l)?.[1]),
    [
      'template-placeholder-string',
      'template-placeholder',
      'template-placeholder',
      'template-placeholder',
      'template-placeholder',
      'template-placeholder',
      'template-unset',
      'template-unset',
      'template-required',
      'template-unset',
    ],
  );
  assert.doesNotMatch(check.stderr, /Expected integer/);
});

test('msb add --tensorrt-llm: the ensemble published (exit 0); a placeholder left or a mismatch refused in one line', async () => {
  const dir = await tempDir();
  const store = path.join(dir, 'store');
  const { args, engine, templates } = await tensorrtLlmAdd(dir, store);
  const mismatch = await runCli([...args, '--set', 'triton_max_batch_size=64']);
  assert.equal(mismatch.code, 2);
  oneLine(
    mismatch.stderr,
    'MSB_LLM_MISMATCH',
    /tensorrt_llm max_batch_size 64 is above the engine's build_config\.max_batch_size 8/,
  );
  const noSet = await runCli([...args, '--set', 'novalue']);
  assert.equal(noSet.code, 2);
  oneLine(noSet.stderr, 'MSB_LLM_TEMPLATES', /--set novalue: expected KEY=VALUE/);
  const usage = await runCli(['add', '--store-path', store, '--tensorrt-llm', engine, '--templates', templates]);
  assert.equal(usage.code, 2);
  oneLine(usage.stderr, 'MSB_CLI_USAGE', /needs --templates DIR and --tokenizer DIR/);
  const stray = await runCli(['add', '--store-path', store, '--onnx', engine, '--set', 'a=b']);
  assert.equal(stray.code, 2);
  oneLine(stray.stderr, 'MSB_CLI_USAGE', /go with --vllm or --tensorrt-llm/);
  const ok = await runCli([...args, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout), {
    store,
    models: ['preprocessing', 'tensorrt_llm', 'postprocessing', 'tensorrt_llm_bls', 'ensemble'],
  });
  assert.equal(ok.stderr.trimEnd().split('\n').length, 3, ok.stderr); // three keys left unset: warnings
  // Lines of the template (relative to --templates), as the user wrote it.
  assert.match(
    ok.stderr,
    /^msb: warning: tensorrt_llm\/config\.pbtxt:18: \$\{kv_cache_free_gpu_mem_fraction\} is left unset/m,
  );
  // A template copied into a store by hand, never filled: validate names each key with its fix.
  const left = path.join(dir, 'left');
  await cp(path.join(templates, 'tensorrt_llm'), path.join(left, 'tensorrt_llm'), { recursive: true });
  const valid = await runCli(['validate', left, '--json']);
  assert.equal(valid.code, 1);
  const problems = JSON.parse(valid.stdout) as { path: string; rule: string; message: string }[];
  assert.deepEqual(
    problems.filter((p) => p.rule === 'template-placeholder').map((p) => p.path),
    [
      'tensorrt_llm/config.pbtxt:4:17',
      'tensorrt_llm/config.pbtxt:5:39',
      'tensorrt_llm/config.pbtxt:6:50',
      'tensorrt_llm/config.pbtxt:11:39',
      'tensorrt_llm/config.pbtxt:12:42',
    ],
  );
  assert.equal(problems.filter((p) => p.rule === 'config-syntax').length, 0);
  assert.deepEqual(await readdir(store), [
    'ensemble',
    'postprocessing',
    'preprocessing',
    'tensorrt_llm',
    'tensorrt_llm_bls',
  ]);
});
