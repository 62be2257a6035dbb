import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { CidError } from '../src/cid/errors.js';
import { ConfigGenerateError } from '../src/config/errors.js';
import { MsbError } from '../src/errors.js';
import { InspectError } from '../src/inspect/errors.js';
import { JobError } from '../src/jobs/errors.js';
import { StoreError } from '../src/store/errors.js';
import { TensorrtError } from '../src/tensorrt/errors.js';
import { repoRoot } from './helpers/paths.js';

async function sources(dir: string, ext: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && ext.test(e.name)) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

/** Code literals (`'MSB_…'` in TypeScript, `"MSB_…"` in the addon) of the library: what a job can fail with. */
async function thrownCodes(): Promise<Map<string, string>> {
  const codes = new Map<string, string>();
  const files = [
    ...(await sources(path.join(repoRoot, 'src'), /\.ts$/)).filter((f) => !f.includes(`${path.sep}cli${path.sep}`)),
    ...(await sources(path.join(repoRoot, 'native'), /\.(cc|h)$/)),
  ];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    // The addon's only other MSB_ strings are environment variables (MSB_LIBCUDA, ...): its codes are MSB_TENSORRT_.
    const re = file.endsWith('.ts') ? /'(MSB_[A-Z0-9_]+)'/g : /"(MSB_TENSORRT_[A-Z0-9_]+)"/g;
    for (const m of text.matchAll(re)) codes.set(m[1] as string, path.relative(repoRoot, file));
  }
  return codes;
}

/**
 * Every module's table (code → whether retrying can help), found rather than listed: each `errors.ts` under `src/`
 * exports its `*_ERROR_RETRYABLE`, so a new module's codes cannot be left out of this test.
 */
async function tables(): Promise<Record<string, Record<string, boolean>>> {
  const found: Record<string, Record<string, boolean>> = {};
  const files = (await sources(path.join(repoRoot, 'src'), /^errors\.ts$/)).filter(
    (f) => f !== path.join(repoRoot, 'src', 'errors.ts'),
  );
  for (const file of files) {
    const exported = Object.entries((await import(file)) as Record<string, unknown>).filter(([name]) =>
      name.endsWith('_ERROR_RETRYABLE'),
    );
    assert.ok(exported.length > 0, `${path.relative(repoRoot, file)} exports its codes' *_ERROR_RETRYABLE table`);
    for (const [name, table] of exported) found[name] = table as Record<string, boolean>;
  }
  return found;
}

test('every error code the library or the addon can throw says whether retrying helps', async () => {
  const classified = new Map<string, string>();
  const all = await tables();
  assert.ok(Object.keys(all).length >= 7, `found the tables: ${Object.keys(all).join(', ')}`);
  for (const [module, table] of Object.entries(all)) {
    for (const code of Object.keys(table)) {
      assert.equal(classified.get(code), undefined, `${code} is in two tables`);
      classified.set(code, module);
    }
  }
  const codes = await thrownCodes();
  assert.ok(codes.size > 40, `found the codes (${codes.size})`);
  const unclassified = [...codes].filter(([code]) => !classified.has(code)).map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(unclassified, []);
});

test('library code throws typed errors only: the class sets retryable from its code', async () => {
  const untyped: string[] = [];
  for (const file of await sources(path.join(repoRoot, 'src'), /\.ts$/)) {
    if (file.includes(`${path.sep}cli${path.sep}`)) continue; // the CLI's errors end the process, never a job
    if (/new MsbError\(/.test(await readFile(file, 'utf8'))) untyped.push(path.relative(repoRoot, file));
  }
  assert.deepEqual(untyped, []);
});

test('each class takes retryable from its table, and a throw site can say otherwise', () => {
  assert.equal(new StoreError('MSB_STORE_LOCK_TIMEOUT', 'held').retryable, true);
  assert.equal(new StoreError('MSB_STORE_CONFIG', 'broken').retryable, false);
  assert.equal(new StoreError('MSB_STORE_SYMLINK', 'out').retryable, false);
  assert.equal(new InspectError('MSB_INSPECT_CORRUPT', 'x').retryable, false);
  assert.equal(new ConfigGenerateError('MSB_CONFIG_CONFLICT', 'x').retryable, false);
  assert.equal(new TensorrtError('MSB_TENSORRT_UNAVAILABLE', 'x').retryable, true);
  assert.equal(new TensorrtError('MSB_TENSORRT_ONNX_PARSE', 'x').retryable, false);
  assert.equal(new CidError('MSB_CID_REDIS', 'x').retryable, true);
  assert.equal(new JobError('MSB_JOB_SOURCE_CHANGED', 'x').retryable, false);
  assert.equal(new StoreError('MSB_STORE_NOT_FOUND', 'x', {}, { retryable: true }).retryable, true);
  assert.equal(new MsbError('MSB_CLI_USAGE', 'x').retryable, false);
});
