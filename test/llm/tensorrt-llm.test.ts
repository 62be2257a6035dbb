import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { isMsbError, type MsbError } from '../../src/errors.js';
import { type LlmProblem, readTrtllmEngine } from '../../src/llm/index.js';
import { publishTensorrtLlm } from '../../src/publish/index.js';
import { LocalStorage, ModelStore, type RepositoryStorage } from '../../src/store/index.js';
import { ObjectStorage } from '../../src/store/object-storage.js';
import { tempDir } from '../helpers/tmp.js';
import { MemoryClient } from '../store/memory-client.js';
import { ph, writeCheckpoint, writeEngine, writeTemplates } from './fixtures.js';

async function inputs(options: Parameters<typeof writeTemplates>[1] = {}) {
  const dir = await tempDir();
  return {
    dir,
    store: path.join(dir, 'store'),
    engineDir: await writeEngine(path.join(dir, 'engine')),
    templatesDir: await writeTemplates(path.join(dir, 'templates'), options),
    tokenizerDir: await writeCheckpoint(path.join(dir, 'tokenizer')),
  };
}

test("an engine directory's config.json: the fields msb reads, and each way it can be wrong", async () => {
  const dir = await tempDir();
  const engine = await readTrtllmEngine(
    await writeEngine(
      path.join(dir, 'ok'),
      { max_batch_size: 64, max_beam_width: 4 },
      { logits_dtype: 'float16', dtype: 'bfloat16' },
    ),
  );
  assert.deepEqual(
    { ...engine, dir: path.basename(engine.dir) },
    {
      dir: 'ok',
      maxBatchSize: 64,
      maxBeamWidth: 4,
      dtype: 'bfloat16',
      logitsDtype: 'float16',
      worldSize: 1,
      version: '0.17.0',
    },
  );
  const refused = async (p: string, message: RegExp) =>
    assert.rejects(readTrtllmEngine(p), (e) => isMsbError(e, 'MSB_LLM_ENGINE') && message.test((e as Error).message));
  await refused(path.join(dir, 'missing'), /has no config\.json/);
  await mkdir(path.join(dir, 'notjson'));
  await writeFile(path.join(dir, 'notjson', 'config.json'), '{');
  await refused(path.join(dir, 'notjson'), /not JSON/);
  await mkdir(path.join(dir, 'checkpoint'));
  // A TensorRT-LLM checkpoint (before trtllm-build) has the pretrained fields at the top level.
  await writeFile(path.join(dir, 'checkpoint', 'config.json'), '{"architecture":"OPTForCausalLM","dtype":"float16"}');
  await refused(path.join(dir, 'checkpoint'), /no build_config or pretrained_config/);
  await refused(await writeEngine(path.join(dir, 'b0'), { max_batch_size: 0 }), /build_config\.max_batch_size is 0/);
  await refused(await writeEngine(path.join(dir, 'l8'), {}, { logits_dtype: 'int8' }), /logits_dtype is "int8"/);
});

test('msb add --tensorrt-llm (library): the templates filled from the engine, published as one change', async () => {
  const i = await inputs({ bls: true });
  const r = await publishTensorrtLlm(i);
  assert.deepEqual(r.models, ['preprocessing', 'tensorrt_llm', 'postprocessing', 'tensorrt_llm_bls', 'ensemble']);
  assert.deepEqual(
    r.warnings.map((w) => [w.key, w.rule, w.file]),
    [
      ['add_special_tokens', 'template-unset', 'preprocessing/config.pbtxt'],
      ['kv_cache_free_gpu_mem_fraction', 'template-unset', 'tensorrt_llm/config.pbtxt'],
      ['tensorrt_llm_model_name', 'template-unset', 'tensorrt_llm_bls/config.pbtxt'],
    ],
  );
  const read = (m: string, f = 'config.pbtxt') => readFile(path.join(i.store, m, f), 'utf8');
  const trt = await read('tensorrt_llm');
  assert.match(trt, /^max_batch_size: 8$/m);
  assert.match(trt, /backend: "tensorrtllm"/);
  assert.match(trt, /string_value: "1"/); // max_beam_width
  assert.ok(trt.includes(`string_value: "${i.engineDir}"`));
  assert.match(trt, /# the logits' type is the engine's\n {2}name: "context_logits"\n {2}data_type: TYPE_FP32/);
  assert.ok((await read('preprocessing')).includes(`string_value: "${i.tokenizerDir}"`));
  // Version files as in the templates (the Python models' model.py), hidden ones left behind.
  assert.deepEqual((await readdir(path.join(i.store, 'preprocessing', '1'))).sort(), ['.msb-version.json', 'model.py']);
  assert.deepEqual(await readdir(path.join(i.store, 'tensorrt_llm', '1')), ['.msb-version.json']);
  const s = await ModelStore.open(i.store);
  const problems = await s.validate();
  assert.deepEqual(
    problems.filter((p) => p.severity === 'error'),
    [],
  );
  // Placeholders left unset are reported by validate too, as warnings with file:line:column.
  assert.deepEqual(
    problems.map((p) => [p.path, p.rule]),
    [
      ['preprocessing/config.pbtxt:21:20', 'template-unset'],
      ['tensorrt_llm/config.pbtxt:50:20', 'template-unset'],
      ['tensorrt_llm_bls/config.pbtxt:21:20', 'template-unset'],
    ],
  );
  // A second publish of the same repository: every taken name, nothing written.
  await assert.rejects(
    publishTensorrtLlm({ ...i, store: s }),
    (e) =>
      isMsbError(e, 'MSB_STORE_EXISTS') &&
      /preprocessing, tensorrt_llm, postprocessing, tensorrt_llm_bls, ensemble already exist/.test(
        (e as Error).message,
      ),
  );
  await s.close();
});

test('a key left where Triton fails on it refuses the publish: every key with its file and line; nothing written', async () => {
  const i = await inputs({
    edit: {
      tensorrt_llm: (t) =>
        t.replace('instance_group [ { count: 1', `instance_group [ { count: ${ph('tensorrt_llm_instance_count')}`),
      ensemble: (t) => t.replace('platform: "ensemble"', `platform: "${ph('ensemble_platform')}"`),
    },
  });
  await mkdir(i.store);
  const err = await publishTensorrtLlm(i).then(
    () => assert.fail('refused'),
    (e: unknown) => e,
  );
  assert.ok(isMsbError(err, 'MSB_LLM_PLACEHOLDER'), String(err));
  assert.equal(
    (err as Error).message,
    `2 template keys left where Triton fails on them: ${ph('tensorrt_llm_instance_count')} (tensorrt_llm/config.pbtxt:14), ${ph('ensemble_platform')} (ensemble/config.pbtxt:3); give each with --set KEY=VALUE`,
  );
  assert.deepEqual(await readdir(i.store), []);
  // --set fills them.
  const r = await publishTensorrtLlm({
    ...i,
    set: { tensorrt_llm_instance_count: '2', ensemble_platform: 'ensemble' },
  });
  assert.equal(r.models.length, 4);
  assert.match(await readFile(path.join(i.store, 'tensorrt_llm', 'config.pbtxt'), 'utf8'), /count: 2/);
});

test('the engine against the configs: batch size, beam width, logits type, decoupled vs streaming', async () => {
  const mismatch = async (
    req: Partial<Parameters<typeof publishTensorrtLlm>[0]>,
    rules: string[],
    message: RegExp,
    options = {},
  ) => {
    const i = await inputs(options);
    await mkdir(i.store);
    const err = await publishTensorrtLlm({ ...i, ...req }).then(
      () => assert.fail('refused'),
      (e: unknown) => e,
    );
    assert.ok(isMsbError(err, 'MSB_LLM_MISMATCH'), String(err));
    assert.deepEqual(
      ((err as MsbError).details.problems as LlmProblem[]).map((p) => p.rule),
      rules,
    );
    assert.match((err as Error).message, message);
    assert.deepEqual(await readdir(i.store), []);
  };
  await mismatch(
    { set: { triton_max_batch_size: '16' } },
    ['trtllm-batch-size'],
    /tensorrt_llm max_batch_size 16 is above the engine's build_config\.max_batch_size 8/,
  );
  await mismatch(
    {},
    ['trtllm-ensemble-batch-size', 'trtllm-ensemble-batch-size', 'trtllm-ensemble-batch-size'],
    /ensemble max_batch_size 16 is above preprocessing's 8/,
    {
      edit: {
        ensemble: (t: string) => t.replace(`max_batch_size: ${ph('triton_max_batch_size')}`, 'max_batch_size: 16'),
      },
    },
  );
  await mismatch(
    { set: { max_beam_width: '4' } },
    ['trtllm-beam-width'],
    /max_beam_width 4 is above the engine's build_config\.max_beam_width 1/,
  );
  await mismatch(
    { set: { logits_datatype: 'TYPE_FP16' } },
    ['trtllm-logits-datatype', 'trtllm-logits-datatype', 'trtllm-logits-datatype'],
    /tensorrt_llm output context_logits is TYPE_FP16, but the engine's logits are float32 \(TYPE_FP32\)/,
  );
  await mismatch(
    { streaming: true, set: { decoupled_mode: 'false' } },
    ['trtllm-decoupled'],
    /streaming was asked for/,
  );
  await mismatch({}, ['trtllm-decoupled'], /tensorrt_llm_bls is decoupled but tensorrt_llm is not/, {
    bls: true,
    edit: { tensorrt_llm_bls: (t: string) => t.replace(`decoupled: ${ph('decoupled_mode')}`, 'decoupled: true') },
  });
  // Streaming: decoupled everywhere it is asked.
  const i = await inputs({ bls: true });
  await publishTensorrtLlm({ ...i, streaming: true });
  assert.match(await readFile(path.join(i.store, 'tensorrt_llm', 'config.pbtxt'), 'utf8'), /decoupled: true/);
});

test('inputs that are not what they should be: no tokenizer, a missing template, a value that does not fit', async () => {
  const i = await inputs();
  const refused = (req: Partial<Parameters<typeof publishTensorrtLlm>[0]>, code: string, message: RegExp) =>
    assert.rejects(
      publishTensorrtLlm({ ...i, ...req }),
      (e) => isMsbError(e, code) && message.test((e as Error).message),
    );
  await refused(
    { tokenizerDir: await writeCheckpoint(path.join(i.dir, 'notok'), { tokenizer: false }) },
    'MSB_LLM_CHECKPOINT',
    /has none of tokenizer\.json/,
  );
  await refused({ templatesDir: i.engineDir }, 'MSB_LLM_TEMPLATES', /has no preprocessing\/config\.pbtxt/);
  await refused(
    { set: { triton_max_batch_size: 'eight' } },
    'MSB_LLM_TEMPLATES',
    /preprocessing\/config\.pbtxt:4:17: Expected integer .*\(after filling the template\)/,
  );
  await rm(path.join(i.templatesDir, 'postprocessing', '1', 'model.py'));
  await refused({}, 'MSB_LLM_TEMPLATES', /python backend, but the template has no postprocessing\/1\/model\.py/);
  assert.equal(existsSync(i.store), false);
});

/** A local store whose commits are recorded, with the models present at each commit. */
function recording(root: string): { storage: RepositoryStorage; commits: { key: string; present: string[] }[] } {
  const inner = new LocalStorage(root);
  const commits: { key: string; present: string[] }[] = [];
  const storage = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'stage') {
        return async (build: Parameters<RepositoryStorage['stage']>[0]) => {
          const staged = await target.stage(build);
          return {
            commit: async (key: string) => {
              commits.push({ key, present: existsSync(root) ? (await readdir(root)).sort() : [] });
              return staged.commit(key);
            },
            discard: () => staged.discard(),
          };
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { storage, commits };
}

test('one change: everything staged first, the ensemble appears last, after every model it calls', async () => {
  const i = await inputs({ bls: true });
  const { storage, commits } = recording(i.store);
  const s = await ModelStore.open(i.store, { create: true, storage });
  await publishTensorrtLlm({ ...i, store: s });
  assert.deepEqual(
    commits.map((c) => c.key),
    ['preprocessing', 'tensorrt_llm', 'postprocessing', 'tensorrt_llm_bls', 'ensemble'],
  );
  assert.deepEqual(commits.at(-1)?.present, ['postprocessing', 'preprocessing', 'tensorrt_llm', 'tensorrt_llm_bls']);
  await s.close();
});

test('createModels: a name taken between the check and the commit removes what this call made, nothing else', async () => {
  const dir = await tempDir();
  const s = await ModelStore.open(path.join(dir, 'store'), { create: true });
  const py = {
    backend: 'python',
    input: [{ name: 'I', dataType: 'TYPE_FP32' as const, dims: [1] }],
    output: [{ name: 'O', dataType: 'TYPE_FP32' as const, dims: [1] }],
  };
  const source = path.join(dir, 'model.py');
  await writeFile(source, 'pass\n');
  await s.createModel('kept', { config: py, version: { source } });
  // The same name twice: free when checked, taken by this call's own first commit when the second one commits.
  const err = await s
    .createModels([
      { name: 'a', config: py, version: { source } },
      { name: 'b', config: py, version: { source } },
      { name: 'a', config: py, version: { source } },
    ])
    .then(
      () => assert.fail('refused'),
      (e: unknown) => e,
    );
  assert.ok(isMsbError(err, 'MSB_STORE_EXISTS'), String(err));
  assert.match(
    (err as Error).message,
    /model a was created .* by another writer meanwhile; the models this publish had made \(a, b\) were removed again/,
  );
  assert.deepEqual(await s.listModels(), ['kept']);
  await assert.rejects(
    s.createModels([
      { name: 'c', config: py, version: { source } },
      { name: 'kept', config: py },
    ]),
    (e) => isMsbError(e, 'MSB_STORE_EXISTS') && /model kept already exists/.test((e as Error).message),
  );
  assert.deepEqual(await s.listModels(), ['kept']);
  await s.close();
});

test('one change on an object store: every object of the members before the ensemble, its config.pbtxt last', async () => {
  const i = await inputs({ bls: true });
  const client = new MemoryClient();
  const written: string[] = [];
  const put = client.put.bind(client);
  client.put = async (key, body, condition) => {
    written.push(key);
    return put(key, body, condition);
  };
  const upload = client.upload.bind(client);
  client.upload = async (key, body) => {
    written.push(key);
    return upload(key, body);
  };
  const s = await ModelStore.open('memory://llm', {
    create: true,
    storage: new ObjectStorage(client, { prefix: 'llm' }),
  });
  await publishTensorrtLlm({ ...i, store: s });
  const models = written
    .filter((k) => /^llm\/[^/.][^/]*\//.test(k))
    .map((k) => k.split('/')[1] as string)
    .filter((m, n, all) => all.indexOf(m) === n);
  assert.deepEqual(models, ['preprocessing', 'tensorrt_llm', 'postprocessing', 'tensorrt_llm_bls', 'ensemble']);
  const configs = written.filter((k) => k.endsWith('/config.pbtxt'));
  assert.equal(configs.at(-1), 'llm/ensemble/config.pbtxt');
  assert.ok(
    written.indexOf('llm/tensorrt_llm_bls/config.pbtxt') < written.findIndex((k) => k.startsWith('llm/ensemble/')),
  );
  assert.deepEqual(await s.listModels(), [
    'ensemble',
    'postprocessing',
    'preprocessing',
    'tensorrt_llm',
    'tensorrt_llm_bls',
  ]);
  await s.close();
});
