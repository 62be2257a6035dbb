/**
 * `msb cid model add` and the library call behind it, without Triton: the manager's config as msb generates and
 * checks it, the kind taken from the targets' CORRID control, the refusals, and the CLI's output and one-line
 * errors. That Triton loads and serves the result is sequences.test.ts, on the real server.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { addManagerModel, corridKind, MANAGER_MODEL_FILE, managerModelConfig } from '../../src/cid/index.js';
import { parseModelConfig } from '../../src/config/index.js';
import { ModelStore, putVersion } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { ACCUMULATOR, addSequenceModel, sequenceConfig } from './fixture.js';

async function storeWithTargets(): Promise<{ root: string; store: ModelStore }> {
  const root = path.join(await tempDir('msb-cidmgr-'), 'store');
  const store = await ModelStore.open(root, { create: true });
  await addSequenceModel(store, 'seq_u64', 'direct', 'uint64');
  await addSequenceModel(store, 'seq_str', 'oldest', 'string');
  return { root, store };
}

test('the manager is published with its model.py and a config the store checks, kind from the targets', async () => {
  const { root, store } = await storeWithTargets();
  const r = await addManagerModel({ store, name: 'cidmgr_str', apiUrl: 'http://msb:8080/', targets: ['seq_str'] });
  assert.equal(r.kind, 'string');
  assert.equal(r.version, 1);
  const text = await readFile(path.join(root, 'cidmgr_str', 'config.pbtxt'), 'utf8');
  const config = parseModelConfig(text);
  assert.equal(config.backend, 'python');
  assert.deepEqual(
    config.output?.map((o) => [o.name, o.dataType]),
    [
      ['CORRID', 'TYPE_STRING'],
      ['TOKEN', 'TYPE_STRING'],
      ['EXPIRES_AT', 'TYPE_INT64'],
    ],
  );
  assert.equal(config.input?.find((i) => i.name === 'CORRID')?.dataType, 'TYPE_STRING');
  assert.deepEqual(
    config.input?.filter((i) => !i.optional).map((i) => i.name),
    ['MODEL'],
  );
  assert.equal(config.parameters?.api_url?.stringValue, 'http://msb:8080');
  assert.equal(config.parameters?.targets?.stringValue, 'seq_str');
  assert.equal(config.parameters?.token_env?.stringValue, 'MSB_CID_TOKEN');
  assert.equal(
    await readFile(path.join(root, 'cidmgr_str', '1', 'model.py'), 'utf8'),
    await readFile(MANAGER_MODEL_FILE, 'utf8'),
  );
  assert.deepEqual(await store.validate(), []);

  const u = await addManagerModel({ store, name: 'cidmgr', apiUrl: 'http://msb:8080', targets: ['seq_u64'] });
  assert.equal(u.kind, 'uint64');
  assert.equal(u.config.output?.[0]?.dataType, 'TYPE_UINT64');
  // a sequence model without a CORRID control takes either kind: the manager's decides
  await addSequenceModel(store, 'seq_any', 'direct', 'any');
  const str = await addManagerModel({
    store,
    name: 'm_any',
    apiUrl: 'http://msb:8080',
    kind: 'string',
    targets: ['seq_any'],
  });
  assert.equal(str.kind, 'string');
  const any = await addManagerModel({ store, name: 'cidmgr_any', apiUrl: 'https://msb.example/api' });
  assert.equal(any.kind, 'uint64');
  assert.equal(any.config.parameters?.targets, undefined);
  assert.equal(any.config.parameters?.api_url?.stringValue, 'https://msb.example/api');
});

test('the manager refuses targets it cannot serve, mixed kinds and a second publish without force', async () => {
  const { store } = await storeWithTargets();
  await assert.rejects(
    addManagerModel({ store, name: 'm', apiUrl: 'http://msb:8080', targets: ['seq_u64', 'seq_str'] }),
    { code: 'MSB_CID_KIND', message: /target seq_str takes string IDs but this manager hands out uint64 IDs/ },
  );
  await assert.rejects(
    addManagerModel({ store, name: 'm', apiUrl: 'http://msb:8080', kind: 'string', targets: ['seq_u64'] }),
    { code: 'MSB_CID_KIND' },
  );
  await assert.rejects(addManagerModel({ store, name: 'm', apiUrl: 'http://msb:8080', targets: ['nope'] }), {
    code: 'MSB_STORE_NOT_FOUND',
  });
  const u32 = sequenceConfig('seq_u32', 'direct', 'uint64');
  const corrid = u32.sequenceBatching?.controlInput?.find((c) => c.name === 'CORRID')?.control?.[0];
  if (corrid) corrid.dataType = 'TYPE_UINT32';
  await putVersion(store, { model: 'seq_u32', config: u32, source: ACCUMULATOR, existing: 'refuse' });
  await assert.rejects(addManagerModel({ store, name: 'm', apiUrl: 'http://msb:8080', targets: ['seq_u32'] }), {
    code: 'MSB_CID_KIND',
    message: /TYPE_UINT32/,
  });
  const plain = { ...sequenceConfig('plain', 'direct', 'uint64'), sequenceBatching: undefined };
  assert.throws(() => corridKind(plain, 'plain'), { code: 'MSB_CID_OPTION', message: /no sequence_batching/ });
  assert.equal(await store.hasModel('m'), false, 'nothing published by a refused add');

  await addManagerModel({ store, name: 'cidmgr', apiUrl: 'http://msb:8080' });
  await assert.rejects(addManagerModel({ store, name: 'cidmgr', apiUrl: 'http://msb:9090' }), {
    code: 'MSB_STORE_EXISTS',
  });
  const forced = await addManagerModel({ store, name: 'cidmgr', apiUrl: 'http://msb:9090', force: true });
  assert.equal(forced.version, 2);
  assert.equal((await store.getModel('cidmgr')).config.parameters?.api_url?.stringValue, 'http://msb:9090');
});

test('the manager config refuses a bad API URL, credentials in it, and bad numbers', () => {
  const base = { name: 'cidmgr', kind: 'uint64' as const };
  for (const apiUrl of ['msb:8080', 'ftp://msb', 'http://msb:8080/?x=1', '']) {
    assert.throws(() => managerModelConfig({ ...base, apiUrl }), { code: 'MSB_CID_OPTION' }, apiUrl);
  }
  assert.throws(() => managerModelConfig({ ...base, apiUrl: 'http://u:secret@msb:8080' }), {
    code: 'MSB_CID_OPTION',
    message: /^API URL msb:8080: credentials do not belong in it/,
  });
  assert.throws(() => managerModelConfig({ ...base, apiUrl: 'http://msb', ttl: 0 }), { code: 'MSB_CID_TTL' });
  assert.throws(() => managerModelConfig({ ...base, apiUrl: 'http://msb', instances: 0 }), { code: 'MSB_CID_OPTION' });
  assert.throws(() => managerModelConfig({ ...base, apiUrl: 'http://msb', tokenEnv: 'A-B' }), {
    code: 'MSB_CID_OPTION',
  });
  assert.throws(() => managerModelConfig({ ...base, name: '.hidden', apiUrl: 'http://msb' }), {
    code: 'MSB_CID_MODEL_NAME',
  });
});

test('msb cid model add: one line on success, one line and exit 2 on bad input', async () => {
  const { root } = await storeWithTargets();
  const ok = await runCli([
    'cid',
    'model',
    'add',
    root,
    '--name',
    'cidmgr',
    '--api',
    'http://msb:8080',
    '--target',
    'seq_str',
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `published cidmgr version 1 in ${root} (string IDs for seq_str)\n`);
  const json = await runCli([
    'cid',
    'model',
    'add',
    root,
    '--name',
    'm2',
    '--api',
    'http://msb:8080',
    '--ttl',
    '5000',
    '--json',
  ]);
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as {
    kind: string;
    config: { parameters: Record<string, { stringValue: string }> };
  };
  assert.equal(out.kind, 'uint64');
  assert.equal(out.config.parameters.ttl_ms?.stringValue, '5000');
  for (const [args, code] of [
    [['--api', 'http://msb:8080', '--target', 'seq_u64', '--target', 'seq_str'], 'MSB_CID_KIND'],
    [['--api', 'nope'], 'MSB_CID_OPTION'],
    [['--api', 'http://msb:8080', '--ttl', 'soon'], 'MSB_CID_TTL'],
    [['--api', 'http://msb:8080', '--instances', '0'], 'MSB_CID_OPTION'],
  ] as const) {
    const r = await runCli(['cid', 'model', 'add', root, '--name', 'm3', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^msb: ${code}: [^\\n]+\\n$`));
  }
});
