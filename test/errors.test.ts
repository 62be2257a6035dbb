import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ApiError, httpStatus } from '../src/api/errors.js';
import { CidError } from '../src/cid/errors.js';
import { CliError } from '../src/cli/errors.js';
import { ConfigGenerateError } from '../src/config/errors.js';
import { TextFormatError } from '../src/config/textformat/errors.js';
import { defineErrors, errorStatus, MsbError } from '../src/errors.js';
import { InspectError } from '../src/inspect/errors.js';
import { JobError } from '../src/jobs/errors.js';
import { RedisError } from '../src/redis/errors.js';
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

/** Code literals (`'MSB_…'` in TypeScript, `"MSB_…"` in the addon) of the library, the CLI and the addon. */
async function thrownCodes(): Promise<Map<string, string>> {
  const codes = new Map<string, string>();
  const files = [
    ...(await sources(path.join(repoRoot, 'src'), /\.ts$/)),
    ...(await sources(path.join(repoRoot, 'native'), /\.(cc|h)$/)),
  ];
  // Quoted MSB_ names that are environment variables, not codes (the correlation-ID manager's token variable).
  const environmentVariables = new Set(['MSB_CID_TOKEN']);
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    // A module's prefix ('MSB_STORE_') ends in _ and is no code. The addon's only other MSB_ strings are environment variables (MSB_LIBCUDA, ...): its codes are MSB_TENSORRT_.
    const re = file.endsWith('.ts') ? /'(MSB_[A-Z0-9_]*[A-Z0-9])'/g : /"(MSB_TENSORRT_[A-Z0-9_]+)"/g;
    for (const m of text.matchAll(re)) {
      if (!environmentVariables.has(m[1] as string)) codes.set(m[1] as string, path.relative(repoRoot, file));
    }
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

test('msb throws typed errors only (the CLI its own codes as CliError): the class sets retryable and status', async () => {
  const untyped: string[] = [];
  for (const file of await sources(path.join(repoRoot, 'src'), /\.ts$/)) {
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

test('the HTTP status lives with the code: retryable server-side codes answer 503, the rest 500 unless they say', () => {
  // Retryable, no status of their own: a condition on the server's side that passes (Redis down, a lock held).
  for (const code of ['MSB_REDIS_UNREACHABLE', 'MSB_STORE_LOCK_TIMEOUT', 'MSB_STORE_BACKEND', 'MSB_TRITON_UNAVAILABLE'])
    assert.equal(errorStatus(code), 503, code);
  // Not retryable, no status of their own: not the client's doing, and trying again does not help.
  for (const code of ['MSB_STORE_CONFIG', 'MSB_ONNX_RUNTIME_FAILED', 'MSB_TENSORRT_ONNX_PARSE'])
    assert.equal(errorStatus(code), 500, code);
  // A status of their own, whatever retryable says.
  assert.equal(errorStatus('MSB_API_INTERNAL'), 500);
  assert.equal(errorStatus('MSB_API_TIMEOUT'), 408);
  assert.equal(errorStatus('MSB_CID_CAP_REACHED'), 429);
  assert.equal(errorStatus('MSB_JOB_FINISHED'), 409);
  assert.equal(errorStatus('MSB_STORE_NOT_FOUND'), 404);
  assert.equal(errorStatus('MSB_JOB_INVALID_SPEC'), 400);
  assert.equal(errorStatus('MSB_NO_SUCH_CODE'), 500);
  // The API's table reads the same function, and every error carries its status.
  assert.equal(httpStatus, errorStatus);
  assert.equal(new RedisError('MSB_REDIS_UNREACHABLE', 'x').status, 503);
  assert.equal(new ApiError('MSB_API_UNAUTHORIZED', 'x').status, 401);
  assert.equal(ApiError.codes.MSB_API_FORBIDDEN.status, 403);
  // `status` is derived, not an own field: an error spread or sent as JSON keeps the shape it had.
  assert.deepEqual(Object.keys(new ApiError('MSB_API_NOT_FOUND', 'x')).sort(), [
    'code',
    'details',
    'name',
    'retryable',
  ]);
});

test('each module class keeps its name, its codes and its own fields', () => {
  const err = new CliError('MSB_CLI_USAGE', 'give a file');
  assert.ok(err instanceof MsbError);
  assert.equal(err.name, 'CliError');
  assert.equal(err.code, 'MSB_CLI_USAGE');
  assert.equal(err.status, 400);
  const tf = new TextFormatError('MSB_TEXTFORMAT_SYNTAX', 'bad', { line: 2, column: 5, path: 'input[0]' });
  assert.equal(tf.name, 'TextFormatError');
  assert.equal(tf.message, '2:5: bad (at input[0])');
  assert.equal(tf.line, 2);
  assert.equal(tf.retryable, false);
  // A code the table does not know (a newer addon) is not retryable rather than undefined.
  assert.equal(
    new (RedisError as unknown as new (c: string, m: string) => MsbError)('MSB_REDIS_NEWER', 'x').retryable,
    false,
  );
});

test('defineErrors refuses a code outside its prefix, and a code another module defines otherwise', () => {
  assert.throws(
    () => defineErrors('MSB_TESTONLY_', { MSB_OTHER_X: { retryable: false } } as never),
    /does not start with MSB_TESTONLY_/,
  );
  assert.throws(() => defineErrors('MSB_STORE_', { MSB_STORE_CONFIG: { retryable: true } }), /defined twice/);
  // The same definition again (a module evaluated twice) is the same codes, not a clash.
  assert.doesNotThrow(() => defineErrors('MSB_STORE_', { MSB_STORE_CONFIG: { retryable: false } }));
});
