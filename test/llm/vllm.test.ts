import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import {
  checkCheckpoint,
  checkVllmEngineArgs,
  newestVllmVersion,
  prepareVllm,
  vllmEngineArgs,
  vllmVersions,
} from '../../src/llm/index.js';
import { publishVllm } from '../../src/publish/index.js';
import { releases } from '../../src/release/index.js';
import { ModelStore } from '../../src/store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { writeCheckpoint } from './fixtures.js';

const rules = (ps: { rule: string }[]) => ps.map((p) => p.rule).sort();

test('the engine-argument table pairs with the release table: every vLLM from 0.13.0 a release ships is in it', () => {
  assert.deepEqual(vllmVersions(), ['0.13.0', '0.15.1', '0.16.0', '0.19.0']);
  assert.equal(newestVllmVersion(), '0.19.0');
  const shipped = releases()
    .map((r) => r.vllm)
    .filter((v): v is string => v !== null && /^0\.(1[3-9]|[2-9]\d)\./.test(v));
  assert.ok(shipped.length >= 4, shipped.join(','));
  for (const v of shipped) assert.ok(vllmEngineArgs(v), `vLLM ${v} has engine arguments`);
  // Types read from the dataclass annotations.
  assert.deepEqual(vllmEngineArgs('0.19.0')?.gpu_memory_utilization, { type: 'float' });
  assert.deepEqual(vllmEngineArgs('0.19.0')?.enforce_eager, { type: 'bool' });
  assert.deepEqual(vllmEngineArgs('0.19.0')?.tokenizer, { type: 'str', nullable: true });
  // swap_space left EngineArgs between 0.13.0 and 0.19.0.
  assert.ok(vllmEngineArgs('0.13.0')?.swap_space);
  assert.equal(vllmEngineArgs('0.19.0')?.swap_space, undefined);
});

test('engine arguments: unknown keys per version, types, ranges, a missing model', () => {
  assert.deepEqual(
    checkVllmEngineArgs({ model: 'facebook/opt-125m', gpu_memory_utilization: 0.5, enforce_eager: true }),
    [],
  );
  // vllm_backend's old sample wrote disable_log_requests: no current vLLM takes it.
  const old = checkVllmEngineArgs({ model: 'm', disable_log_requests: true });
  assert.deepEqual(rules(old), ['vllm-engine-arg-unknown']);
  assert.match(
    old[0]?.message ?? '',
    /"disable_log_requests" is not an engine argument of vLLM 0\.19\.0.*unexpected keyword argument/,
  );
  const swap = checkVllmEngineArgs({ model: 'm', swap_space: 4 }, { vllmVersion: '0.19.0' });
  assert.match(swap[0]?.message ?? '', /vLLM 0\.13\.0, 0\.15\.1, 0\.16\.0 have it/);
  assert.deepEqual(checkVllmEngineArgs({ model: 'm', swap_space: 4 }, { vllmVersion: '0.13.0' }), []);
  const typed = checkVllmEngineArgs({
    model: 'm',
    gpu_memory_utilization: '0.85',
    enforce_eager: 1,
    max_num_seqs: 2.5,
  });
  assert.deepEqual(rules(typed), ['vllm-engine-arg-type', 'vllm-engine-arg-type', 'vllm-engine-arg-type']);
  assert.match(typed[0]?.message ?? '', /"gpu_memory_utilization" is float in vLLM 0\.19\.0, not string "0\.85"/);
  // The backend also reads enable_lora as a string.
  assert.deepEqual(checkVllmEngineArgs({ model: 'm', enable_lora: 'true' }), []);
  for (const bad of [0, -0.1, 1.01]) {
    assert.deepEqual(rules(checkVllmEngineArgs({ model: 'm', gpu_memory_utilization: bad })), [
      'vllm-gpu-memory-utilization',
    ]);
  }
  assert.deepEqual(checkVllmEngineArgs({ model: 'm', gpu_memory_utilization: 1 }), []);
  assert.deepEqual(rules(checkVllmEngineArgs({ model: 'm', tensor_parallel_size: 0 })), ['vllm-parallel-size']);
  assert.deepEqual(rules(checkVllmEngineArgs({ gpu_memory_utilization: 0.5 })), ['vllm-model-missing']);
  assert.deepEqual(rules(checkVllmEngineArgs(['model'])), ['vllm-model-json']);
  const unknown = checkVllmEngineArgs({ model: 'm', whatever: 1 }, { vllmVersion: '0.5.5' });
  assert.deepEqual(
    unknown.map((p) => [p.rule, p.severity]),
    [['vllm-version-unknown', 'warning']],
  );
});

test('tensor × pipeline parallelism against the instance group, GPU_DEVICE_IDS and the GPUs', () => {
  const tp2 = { model: 'm', tensor_parallel_size: 2 };
  assert.deepEqual(rules(checkVllmEngineArgs(tp2, { config: { instanceGroup: [{ kind: 'KIND_GPU', count: 1 }] } })), [
    'vllm-instance-kind',
  ]);
  assert.deepEqual(checkVllmEngineArgs(tp2, { config: { instanceGroup: [{ kind: 'KIND_MODEL', count: 1 }] } }), []);
  const ids = (v: string) => ({
    instanceGroup: [{ kind: 'KIND_MODEL' as const }],
    parameters: { GPU_DEVICE_IDS: { stringValue: v } },
  });
  assert.deepEqual(rules(checkVllmEngineArgs({ ...tp2, pipeline_parallel_size: 2 }, { config: ids('0,1') })), [
    'vllm-gpu-device-ids',
  ]);
  assert.deepEqual(checkVllmEngineArgs({ ...tp2, pipeline_parallel_size: 2 }, { config: ids('0,1,2,3') }), []);
  assert.deepEqual(rules(checkVllmEngineArgs(tp2, { gpus: [0] })), ['vllm-parallel-gpus']);
  assert.deepEqual(checkVllmEngineArgs(tp2, { gpus: [0, 1] }), []);
});

test('a local checkpoint needs config.json and a tokenizer (here, or where "tokenizer" points)', async () => {
  const dir = await tempDir();
  const full = await writeCheckpoint(path.join(dir, 'full'));
  assert.deepEqual(await checkCheckpoint(full), []);
  const noConfig = await writeCheckpoint(path.join(dir, 'noconfig'), { config: false });
  assert.deepEqual(rules(await checkCheckpoint(noConfig)), ['vllm-checkpoint-config']);
  const noTok = await writeCheckpoint(path.join(dir, 'notok'), { tokenizer: false });
  assert.deepEqual(rules(await checkCheckpoint(noTok)), ['vllm-tokenizer-files']);
  assert.deepEqual(await checkCheckpoint(noTok, { tokenizer: full }), []);
  assert.deepEqual(await checkCheckpoint(noTok, { skipTokenizer: true }), []);
  const gone = await checkCheckpoint(path.join(dir, 'elsewhere'));
  assert.deepEqual(
    gone.map((p) => [p.rule, p.severity]),
    [['vllm-checkpoint-missing', 'warning']],
  );
  const goneAtPublish = await checkCheckpoint(path.join(dir, 'elsewhere'), { missing: 'error' });
  assert.equal(goneAtPublish[0]?.severity, 'error');
});

test('msb add --vllm (library): config.pbtxt and 1/model.json, atomically; a model id is written as it is', async () => {
  const dir = await tempDir();
  const ckpt = await writeCheckpoint(path.join(dir, 'llama-3-8b'));
  const store = path.join(dir, 'store');
  const r = await publishVllm({
    store,
    source: ckpt,
    set: ['gpu_memory_utilization=0.85', 'enforce_eager=true', 'dtype=float16'],
  });
  assert.deepEqual(r.models, ['llama-3-8b']);
  const config = await readFile(path.join(store, 'llama-3-8b', 'config.pbtxt'), 'utf8');
  assert.match(config, /backend: "vllm"/);
  assert.match(config, /kind: KIND_MODEL/);
  assert.match(config, /model_transaction_policy \{\n {2}decoupled: true\n\}/);
  assert.deepEqual(JSON.parse(await readFile(path.join(store, 'llama-3-8b', '1', 'model.json'), 'utf8')), {
    model: ckpt,
    gpu_memory_utilization: 0.85,
    enforce_eager: true,
    dtype: 'float16',
  });
  const s = await ModelStore.open(store);
  assert.deepEqual(await s.validate(), []);
  await publishVllm({ store: s, source: 'facebook/opt-125m' });
  assert.deepEqual(JSON.parse(await readFile(path.join(store, 'opt-125m', '1', 'model.json'), 'utf8')), {
    model: 'facebook/opt-125m',
  });
  // Taken without --force; replaced with it.
  await assert.rejects(publishVllm({ store: s, source: ckpt }), (e) => isMsbError(e, 'MSB_STORE_EXISTS'));
  await publishVllm({ store: s, source: ckpt, set: ['gpu_memory_utilization=0.6'], force: true });
  assert.equal(
    JSON.parse(await readFile(path.join(store, 'llama-3-8b', '1', 'model.json'), 'utf8')).gpu_memory_utilization,
    0.6,
  );
  await s.close();
});

test('msb add --vllm refuses what the backend would fail on, and writes nothing', async () => {
  const dir = await tempDir();
  const store = path.join(dir, 'store');
  await mkdir(store);
  const ckpt = await writeCheckpoint(path.join(dir, 'ckpt'));
  const refused = async (req: Parameters<typeof publishVllm>[0], code: string, message: RegExp) => {
    await assert.rejects(publishVllm(req), (e) => isMsbError(e, code) && message.test((e as Error).message));
    assert.deepEqual(await readdir(store), []);
  };
  await refused({ store, source: ckpt, set: ['gpu_memory_utilization=1.5'] }, 'MSB_LLM_ENGINE_ARGS', /in \(0, 1\]/);
  await refused(
    { store, source: ckpt, set: ['disable_log_requests=true'] },
    'MSB_LLM_ENGINE_ARGS',
    /disable_log_requests/,
  );
  await refused({ store, source: ckpt, set: ['noequals'] }, 'MSB_LLM_ENGINE_ARGS', /KEY=VALUE/);
  await refused(
    { store, source: await writeCheckpoint(path.join(dir, 'bare'), { tokenizer: false }) },
    'MSB_LLM_CHECKPOINT',
    /no tokenizer/,
  );
  await refused({ store, source: path.join(dir, 'nowhere') }, 'MSB_LLM_CHECKPOINT', /not on this machine/);
  await refused({ store, source: 'not a model id!' }, 'MSB_LLM_CHECKPOINT', /neither a local directory nor/);
  // The Triton release picks the vLLM version: swap_space is an argument of 26.01's vLLM 0.13.0, not of 26.04's 0.19.0.
  await refused(
    { store, source: ckpt, set: ['swap_space=4'], triton: '26.04' },
    'MSB_LLM_ENGINE_ARGS',
    /vLLM 0\.19\.0/,
  );
  const ok = await publishVllm({ store, source: ckpt, set: ['swap_space=4'], triton: '26.01' });
  assert.deepEqual(ok.warnings, []);
  // No release named: the store's recorded default (msb init --triton) picks it, as validate and publish do.
  const pinned = await ModelStore.open(path.join(dir, 'pinned'), { create: true });
  await pinned.setSettings({ triton: '26.01' });
  const byDefault = await publishVllm({ store: pinned, source: ckpt, set: ['swap_space=4'], name: 'by-default' });
  assert.deepEqual(byDefault.warnings, []);
  await assert.rejects(
    publishVllm({ store: pinned, source: ckpt, set: ['swap_space=4'], name: 'named', triton: '26.04' }),
    (e) => isMsbError(e, 'MSB_LLM_ENGINE_ARGS') && /vLLM 0\.19\.0/.test((e as Error).message),
  );
  assert.deepEqual(await pinned.listModels(), ['by-default']);
  await pinned.close();
  const older = await prepareVllm({ source: ckpt, vllmVersion: '0.5.5' });
  assert.deepEqual(rules(older.warnings), ['vllm-version-unknown']);
});

test('validate checks each vLLM version: model.json missing, unknown keys against the given vLLM version', async () => {
  const dir = await tempDir();
  const store = path.join(dir, 'store');
  await publishVllm({ store, source: 'facebook/opt-125m', set: ['swap_space=4'], vllmVersion: '0.13.0' });
  const s = await ModelStore.open(store);
  assert.deepEqual(await s.validate({ vllmVersion: '0.13.0' }), []);
  const newest = await s.validate();
  assert.deepEqual(
    newest.map((p) => [p.path, p.rule, p.severity]),
    [['opt-125m/1/model.json', 'vllm-engine-arg-unknown', 'error']],
  );
  await mkdir(path.join(store, 'opt-125m', '2'));
  await writeFile(
    path.join(store, 'opt-125m', '2', 'model.json'),
    '{"model": "facebook/opt-125m", "tensor_parallel_size": 2}',
  );
  await writeFile(
    path.join(store, 'opt-125m', 'config.pbtxt'),
    'backend: "vllm"\ninstance_group { kind: KIND_GPU }\nmodel_transaction_policy { decoupled: true }\nversion_policy { all {} }\n',
  );
  await mkdir(path.join(store, 'opt-125m', '3'));
  const found = await s.validate({ vllmVersion: '0.13.0' });
  assert.deepEqual(
    found.map((p) => [p.path, p.rule]),
    [
      ['opt-125m/2/model.json', 'vllm-instance-kind'],
      ['opt-125m/3/model.json', 'vllm-model-json-missing'],
    ],
  );
  await s.close();
});
