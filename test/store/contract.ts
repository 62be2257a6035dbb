// The storage contract: one suite, run unchanged against every RepositoryStorage (contract-*.test.ts).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { ModelStore, type RepositoryStorage } from '../../src/store/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';

const onnx = testdata('onnx', 'onnx-backend', 'light', 'light_shufflenet.onnx');
// Two different files with one interface, and the config that interface needs (validate checks the model files).
const onnx2 = testdata('onnx', 'onnx-backend', 'light', 'light_zfnet512.onnx');
/** Without the corpora (a clone without ../shared) these tests skip, and say so. */
const skip = skipWithout(onnx, onnx2);
const OUT = 'gpu_0/softmax_1';
const io = {
  input: [{ name: 'gpu_0/data_0', dataType: 'TYPE_FP32' as const, dims: [1, 3, 224, 224] }],
  output: [{ name: OUT, dataType: 'TYPE_FP32' as const, dims: [1, 1000] }],
};

export interface ContractBackend {
  /** A fresh, empty repository (not yet prepared). */
  make(): Promise<RepositoryStorage>;
  /** Whether this backend's server enforces conditional writes (s3rver does not). */
  enforcesConditions: boolean;
}

export function storageContract(label: string, backend: ContractBackend): void {
  const opened: RepositoryStorage[] = [];
  after(async () => {
    for (const s of opened) await s.close();
  });
  const make = async () => {
    const s = await backend.make();
    opened.push(s);
    return s;
  };
  const prepared = async () => {
    const s = await make();
    await s.prepare(true);
    return s;
  };

  test(`${label}: write, read (whole and ranged), head, list cut at '/', delete`, async () => {
    const s = await prepared();
    assert.deepEqual(await s.list(''), []);
    assert.equal(await s.list('m'), undefined);
    assert.equal(await s.read('m/a.txt'), undefined);
    assert.ok(await s.write('m/a.txt', 'hello world'));
    assert.ok(await s.write('m/1/x.bin', new Uint8Array([1, 2, 3])));
    assert.ok(await s.write('m/1/deep/y.bin', 'y'));
    assert.equal((await s.read('m/a.txt'))?.toString(), 'hello world');
    assert.equal((await s.read('m/a.txt', { start: 6, end: 11 }))?.toString(), 'world');
    assert.equal((await s.read('m/a.txt', { start: 6, end: 100 }))?.toString(), 'world');
    assert.equal((await s.head('m/a.txt'))?.size, 11);
    assert.deepEqual(await s.list(''), [{ name: 'm', type: 'dir', size: 0 }]);
    assert.deepEqual(await s.list('m'), [
      { name: '1', type: 'dir', size: 0 },
      { name: 'a.txt', type: 'file', size: 11 },
    ]);
    assert.deepEqual(await s.list('m/1'), [
      { name: 'deep', type: 'dir', size: 0 },
      { name: 'x.bin', type: 'file', size: 3 },
    ]);
    assert.ok(await s.write('m/a.txt', 'replaced'));
    assert.equal((await s.read('m/a.txt'))?.toString(), 'replaced');
    await s.delete('m/a.txt');
    await s.delete('m/a.txt');
    assert.equal(await s.read('m/a.txt'), undefined);
  });

  test(`${label}: localPath is the file read() reads, where the repository is a directory; close() releases it`, async () => {
    const s = await backend.make();
    await s.prepare(true);
    assert.ok(await s.write('m/a.txt', 'where am I'));
    const file = s.localPath('m/a.txt');
    if (file === undefined) assert.ok(!path.isAbsolute(s.location), `${s.location} has no local paths`);
    else assert.equal(await readFile(file, 'utf8'), 'where am I');
    await s.close();
  });

  test(`${label}: conditional writes hold where the server enforces them, and the probe says which`, async () => {
    const s = await prepared();
    assert.equal(await s.conditionalWrites(), backend.enforcesConditions);
    if (!backend.enforcesConditions) return;
    assert.ok(await s.write('m/c', 'one', { ifNoneMatch: '*' }));
    assert.equal(await s.write('m/c', 'two', { ifNoneMatch: '*' }), false, 'create-only refused on an existing key');
    assert.equal((await s.read('m/c'))?.toString(), 'one');
    const tagged = await s.readTagged('m/c');
    assert.ok(tagged);
    assert.ok(await s.write('m/c', 'three', { ifMatch: tagged.etag }));
    assert.equal(await s.write('m/c', 'four', { ifMatch: tagged.etag }), false, 'stale tag refused');
    assert.equal((await s.read('m/c'))?.toString(), 'three');
  });

  test(`${label}: a stream is written whole with its size and SHA-256`, async () => {
    const s = await prepared();
    const data = randomBytes(12 * 1024 * 1024 + 17);
    const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) =>
      data.subarray(i * 65536, (i + 1) * 65536),
    );
    const written = await s.writeStream('m/big.bin', Readable.from(chunks));
    assert.equal(written.size, data.length);
    if (written.sha256 !== undefined) assert.equal(written.sha256, createHash('sha256').update(data).digest('hex'));
    assert.ok(data.equals((await s.read('m/big.bin')) ?? Buffer.alloc(0)));
  });

  test(`${label}: a staged tree is invisible until committed, never replaces a key, and is removed whole`, async () => {
    const s = await prepared();
    const staged = await s.stage(async (stage) => {
      await stage.writeFile('config.pbtxt', 'name: "t"\n', 'config');
      await stage.writeFile('1/model.onnx', 'model', 'model');
      await stage.writeFile('1/.rec', (placed) => JSON.stringify(Object.keys(placed)), 'record');
    });
    assert.equal(await s.list('t'), undefined, 'nothing visible before the commit');
    try {
      assert.ok(await staged.commit('t'));
    } finally {
      await staged.discard();
    }
    assert.equal((await s.read('t/1/model.onnx'))?.toString(), 'model');
    const again = await s.stage(async (stage) => {
      await stage.writeFile('config.pbtxt', 'other', 'config');
    });
    try {
      assert.equal(await again.commit('t'), false);
    } finally {
      await again.discard();
    }
    assert.equal((await s.read('t/config.pbtxt'))?.toString(), 'name: "t"\n', 'the existing tree is untouched');
    assert.ok(await s.removeTree('t'));
    assert.equal(await s.list('t'), undefined);
    assert.equal(await s.removeTree('t'), false);
  });

  test(`${label}: locks exclude each other and a released lock is taken at once`, async () => {
    const s = await prepared();
    const first = await s.lock('m', { waitMs: 10_000 });
    let second = false;
    const waiting = s.lock('m', { waitMs: 10_000 }).then((h) => {
      second = true;
      return h;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(second, false, 'the second waits');
    await first.release();
    await (await waiting).release();
    assert.equal(second, true);
  });

  test(`${label}: the model store on it: create with labels and a version, versions, labels, config, describe, validate, rm`, {
    skip,
  }, async () => {
    const s = await make();
    const store = await ModelStore.open('', { storage: s, create: true });
    const m = await store.createModel('net', {
      platform: 'onnxruntime_onnx',
      config: io,
      version: { source: onnx },
    });
    assert.deepEqual(await store.listModels(), ['net']);
    assert.deepEqual(await m.listVersions(), [1]);
    assert.equal(await m.addVersion(onnx2), 2);
    assert.equal(await m.addVersion(onnx2, { version: 7, publishKey: 'job' }), 7);
    assert.equal(await m.addVersion(onnx, { publishKey: 'job' }), 7, 'idempotent per publish key');
    await assert.rejects(m.addVersion(onnx, { version: 2 }), /already exists/);
    await m.setLabels(OUT, ['cat', 'dog'], { fileName: 'out_labels.txt' });
    await m.update((c) => ({ ...c, maxBatchSize: 0, parameters: { k: { stringValue: 'v' } } }));
    const info = await m.describe();
    assert.deepEqual(
      info.versions.map((v) => v.version),
      [1, 2, 7],
    );
    assert.deepEqual(info.labels, [{ output: OUT, file: 'out_labels.txt', lines: 2 }]);
    assert.equal(info.config.parameters?.k?.stringValue, 'v');
    const rec = JSON.parse((await s.read('net/7/.msb-version.json'))?.toString() ?? '{}');
    assert.equal(rec.publishKey, 'job');
    assert.equal(rec.files[0].path, 'model.onnx');
    assert.deepEqual(await store.validate(), []);
    await m.removeLabels(OUT);
    assert.equal(await s.read('net/out_labels.txt'), undefined);
    await m.removeVersion(2);
    assert.deepEqual(await m.listVersions(), [1, 7]);
    await store.removeModel('net');
    assert.deepEqual(await store.listModels(), []);
  });

  test(`${label}: concurrent writers in one process: distinct version numbers, no lost config update`, {
    skip,
  }, async () => {
    const s = await make();
    const store = await ModelStore.open('', { storage: s, create: true });
    const m = await store.createModel('c', { platform: 'onnxruntime_onnx', config: io, version: { source: onnx } });
    const versions = await Promise.all([0, 1, 2, 3].map(() => m.addVersion(onnx)));
    assert.deepEqual([...versions].sort(), [2, 3, 4, 5]);
    await Promise.all(
      [0, 1, 2, 3].map(() =>
        m.update((c) => ({
          ...c,
          parameters: { n: { stringValue: String(Number(c.parameters?.n?.stringValue ?? '0') + 1) } },
        })),
      ),
    );
    await m.reload();
    assert.equal(m.config.parameters?.n?.stringValue, '4');
  });
}

export function strictContract(label: string, backend: ContractBackend): void {
  test(`${label}: strict mode: version_policy specific lists a version once its files are in, and unlists it before removal`, {
    skip,
  }, async () => {
    const s = await backend.make();
    const store = await ModelStore.open('', { storage: s, create: true });
    try {
      const m = await store.createModel('st', {
        platform: 'onnxruntime_onnx',
        config: io,
        version: { source: onnx, version: 3 },
        strict: true,
      });
      assert.deepEqual(m.config.versionPolicy, { specific: { versions: [3] } });
      const v = await m.addVersion(onnx2);
      assert.equal(v, 4);
      await m.reload();
      assert.deepEqual(m.config.versionPolicy, { specific: { versions: [3, 4] } });
      assert.deepEqual(await store.validate(), []);
      await m.removeVersion(3);
      await m.reload();
      assert.deepEqual(m.config.versionPolicy, { specific: { versions: [4] } });
      assert.deepEqual(await m.listVersions(), [4]);
    } finally {
      await s.close();
    }
  });
}
