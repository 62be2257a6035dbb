/**
 * LLM repositories msb writes, loaded one model at a time by the real tritonserver 2.51 (explicit mode): the
 * Python-backend parts of TensorRT-LLM's ensemble (preprocessing, postprocessing, the BLS: small model.py files of
 * the tests' own; preprocessing and postprocessing refuse to start without the tokenizer_dir msb filled in) are
 * READY; the TensorRT-LLM and vLLM models fail only for their backend, which the PyPI server lacks; the ensemble
 * fails only for its missing step. A template copied in unfilled fails in Triton's parser, where `msb validate`
 * names the key and its fix.
 */
import assert from 'node:assert/strict';
import { cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { TritonRepositoryClient } from '../../src/triton/index.js';
import { runCli, runCliOk } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipWithoutTriton, TritonServer } from '../helpers/triton.js';
import { until } from '../helpers/until.js';
import { tensorrtLlmAdd } from '../llm/fixtures.js';

const skip = skipWithoutTriton();
let server: TritonServer | undefined;
let client: TritonRepositoryClient | undefined;
const dir = await tempDir();
const store = path.join(dir, 'store');

before(async () => {
  if (skip) return;
  const { args, templates } = await tensorrtLlmAdd(dir, store);
  await runCliOk(args);
  await runCliOk(['add', '--store-path', store, '--vllm', 'facebook/opt-125m', '--set', 'gpu_memory_utilization=0.5']);
  // What fill_template.py leaves when a key is not given: the template as it is.
  await cp(path.join(templates, 'tensorrt_llm'), path.join(store, 'unfilled'), { recursive: true });
  await mkdir(path.join(store, 'unfilled', '1'), { recursive: true });
  server = await TritonServer.start({ repository: store, mode: 'explicit' });
  client = new TritonRepositoryClient({ url: server.url, attempts: 1, backoffMs: 100 });
});

after(async () => {
  await server?.close();
});

async function refused(model: string): Promise<string> {
  assert.ok(client);
  const err = await client.load(model).then(
    () => assert.fail(`${model} must not load on the PyPI server`),
    (e: unknown) => e,
  );
  assert.ok(isMsbError(err, 'MSB_TRITON_LOAD_FAILED'), String(err));
  return (err as Error).message;
}

test('the Python-backend parts of the ensemble load: READY, with the tokenizer msb filled in', { skip }, async () => {
  assert.ok(server && client);
  for (const model of ['preprocessing', 'postprocessing', 'tensorrt_llm_bls']) {
    assert.deepEqual(await client.load(model), { attempts: 1 }, model);
    assert.equal(await server.modelReady(model, '1'), true, model);
  }
  const served = await server.modelConfig('preprocessing');
  assert.equal(served.max_batch_size, 8);
  assert.equal(
    (served.parameters as Record<string, { string_value: string }>).tokenizer_dir?.string_value,
    path.join(dir, 'tokenizer'),
  );
});

test('tensorrt_llm and vllm fail only for their missing backend; the ensemble only for its missing step', {
  skip,
}, async () => {
  assert.ok(server);
  assert.match(await refused('tensorrt_llm'), /unable to find backend library for backend 'tensorrtllm'/);
  assert.match(await refused('opt-125m'), /unable to find backend library for backend 'vllm'/);
  // Its own config is accepted: what fails is the step whose backend is missing.
  const ensemble = await refused('ensemble');
  assert.match(
    ensemble,
    /load failed for model 'ensemble': ensemble 'ensemble' depends on 'tensorrt_llm' which has no loaded version\. Model 'tensorrt_llm' loading failed with error: .*unable to find backend library for backend 'tensorrtllm'/,
  );
  const index = await server.index();
  assert.deepEqual(
    index
      .filter((m) => m.state === 'READY')
      .map((m) => m.name)
      .sort(),
    ['postprocessing', 'preprocessing', 'tensorrt_llm_bls'],
  );
});

test("an unfilled template fails in Triton's parser; msb validate names the key and the fix instead", {
  skip,
}, async () => {
  assert.ok(server && client);
  const err = await client.load('unfilled').then(
    () => assert.fail('an unfilled template must not load'),
    (e: unknown) => e,
  );
  assert.match(String(err), /failed to load 'unfilled', failed to poll from model repository/);
  // Triton's parser stops at the first key, at the line and column msb names (its log line may follow the answer).
  const parser = /Error parsing text-format inference\.ModelConfig: 4:17: Expected integer, got: \$/;
  await until("Triton's parser error in its log", () => parser.test(server?.log() ?? ''));
  await until("Triton's poll failure in its log", () =>
    /Poll failed for model directory 'unfilled': failed to read text proto/.test(server?.log() ?? ''),
  );
  const r = await runCli(['validate', store, '--json']);
  assert.equal(r.code, 1);
  const problems = (JSON.parse(r.stdout) as { path: string; rule: string; severity: string; message: string }[]).filter(
    (p) => p.severity === 'error',
  );
  assert.deepEqual(
    [...new Set(problems.map((p) => `${p.path.split(':')[0]} ${p.rule}`))],
    [
      'unfilled/config.pbtxt template-placeholder-string',
      'unfilled/config.pbtxt template-placeholder',
      'unfilled/config.pbtxt template-required',
    ],
  );
  const first = problems.find((p) => p.rule === 'template-placeholder');
  assert.equal(first?.path, 'unfilled/config.pbtxt:4:17');
  assert.match(first?.message ?? '', /triton_max_batch_size.*--set triton_max_batch_size=…/);
});
