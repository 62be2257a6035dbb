import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { CID_ERROR_RETRYABLE, CidError } from '../src/cid/errors.js';
import { CONFIG_ERROR_RETRYABLE, ConfigGenerateError, TEXTFORMAT_ERROR_RETRYABLE } from '../src/config/errors.js';
import { MsbError } from '../src/errors.js';
import { INSPECT_ERROR_RETRYABLE, InspectError } from '../src/inspect/errors.js';
import { JOB_ERROR_RETRYABLE, JobError } from '../src/jobs/errors.js';
import { STORE_ERROR_RETRYABLE, StoreError } from '../src/store/errors.js';
import { TENSORRT_ERROR_RETRYABLE, TensorrtError } from '../src/tensorrt/errors.js';
import { repoRoot } from './helpers/paths.js';

/** Every module's table: code → whether retrying can help. */
const TABLES: Record<string, Record<string, boolean>> = {
  cid: CID_ERROR_RETRYABLE,
  config: CONFIG_ERROR_RETRYABLE,
  textformat: TEXTFORMAT_ERROR_RETRYABLE,
  inspect: INSPECT_ERROR_RETRYABLE,
  jobs: JOB_ERROR_RETRYABLE,
  store: STORE_ERROR_RETRYABLE,
  tensorrt: TENSORRT_ERROR_RETRYABLE,
};

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

test('every error code the library or the addon can throw says whether retrying helps', async () => {
  const classified = new Map<string, string>();
  for (const [module, table] of Object.entries(TABLES)) {
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
