import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

// The `--json` contract (docs/cli-json.md, version 1) the Python package reads: the exact keys of each shape, run
// through the real CLI on a real store. A change here is a contract change: bump CLI_JSON_CONTRACT and the doc.

const contract = { MSB_CLI_JSON_CONTRACT: '1' };

async function json(args: string[], input?: string): Promise<unknown> {
  const r = await runCli(args, { env: contract, ...(input !== undefined ? { input } : {}) });
  assert.ok(r.code === 0 || (r.code === 1 && args[0] === 'validate'), `${args.join(' ')}: ${r.code} ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const keys = (o: unknown) => Object.keys(o as object).sort();

test('the --json shapes of init, create, config get, version add/ls, ls, show and validate', async () => {
  const dir = await tempDir();
  const root = path.join(dir, 'repo');
  const init = (await json(['init', root, '--json'])) as { store: string };
  assert.deepEqual(keys(init), ['store']);

  const created = await json(['create', root, 'pre', '--backend', 'python', '--json']);
  assert.deepEqual(created, { model: 'pre', store: init.store });
  assert.deepEqual(await json(['create', root, 'pre', '--backend', 'python', '--force', '--json']), {
    model: 'pre_0',
    store: init.store,
  });

  // create takes a starting config on stdin; its name is the model's.
  const config =
    'name: "other"\nbackend: "python"\ninput { name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }\n' +
    'output { name: "OUT" data_type: TYPE_FP32 dims: [ 4 ] }\n';
  assert.deepEqual(await json(['create', root, 'py', '-', '--json'], config), { model: 'py', store: init.store });
  const got = (await json(['config', 'get', root, 'py', '--json'])) as Record<string, unknown>;
  assert.equal(got.name, 'py');
  assert.equal(got.backend, 'python');
  assert.deepEqual(got.input, [{ name: 'IN', dataType: 'TYPE_FP32', dims: ['4'] }]);

  const file = path.join(dir, 'model.py');
  const source = 'class TritonPythonModel:\n    def execute(self, requests):\n        return []\n';
  await writeFile(file, source);
  assert.deepEqual(await json(['version', 'add', root, 'py', file, '--json']), { model: 'py', version: 1 });

  const versions = (await json(['version', 'ls', root, 'py', '--json'])) as Record<string, unknown>[];
  assert.equal(versions.length, 1);
  assert.equal(versions[0]?.version, 1);
  assert.deepEqual(versions[0]?.files, [{ path: 'model.py', size: Buffer.byteLength(source) }]);

  const rows = (await json(['ls', root, '--json'])) as Record<string, unknown>[];
  assert.deepEqual(
    rows.map((r) => [r.model, r.backend, r.versions]),
    [
      ['pre', 'python', []],
      ['pre_0', 'python', []],
      ['py', 'python', [1]],
    ],
  );
  for (const r of rows) assert.deepEqual(keys(r), ['backend', 'labels', 'model', 'versions']);

  const show = (await json(['show', root, 'py', '--json'])) as Record<string, unknown>;
  for (const k of ['config', 'versions', 'labels']) assert.ok(k in show, `show --json has ${k}`);

  const problems = (await json(['validate', root, '--json'])) as Record<string, unknown>[];
  assert.ok(Array.isArray(problems));
  for (const p of problems) for (const k of ['severity', 'path', 'rule', 'message']) assert.ok(k in p);
});

test('under the contract an error is one JSON line on stderr with code, message, retryable and details, exit 2', async () => {
  const dir = await tempDir();
  const r = await runCli(['show', path.join(dir, 'repo'), 'nope', '--json'], { env: contract });
  const plain = await runCli(['init', path.join(dir, 'repo')]);
  assert.equal(plain.code, 0, plain.stderr);
  const again = await runCli(['show', path.join(dir, 'repo'), 'nope', '--json'], { env: contract });
  assert.equal(again.code, 2);
  const lines = again.stderr.trim().split('\n');
  assert.equal(lines.length, 1, again.stderr);
  const report = JSON.parse(lines[0] ?? '');
  assert.deepEqual(report, {
    contract: 1,
    error: {
      code: 'MSB_STORE_NOT_FOUND',
      message: report.error.message,
      retryable: false,
      details: { model: 'nope' },
    },
  });
  assert.match(report.error.message, /model nope does not exist/);
  assert.equal(r.code, 2); // a store that does not exist is an error too, in the same form
  assert.ok(JSON.parse(r.stderr.trim()).error.code.startsWith('MSB_'));
  // Without the contract the same error is the human line.
  const human = await runCli(['show', path.join(dir, 'repo'), 'nope']);
  assert.match(human.stderr, /^msb: MSB_STORE_NOT_FOUND: model nope does not exist/);
});

test('a contract version msb does not speak is refused before the command runs', async () => {
  const dir = await tempDir();
  const root = path.join(dir, 'repo');
  const r = await runCli(['init', root, '--json'], { env: { MSB_CLI_JSON_CONTRACT: '2' } });
  assert.equal(r.code, 2);
  assert.equal(JSON.parse(r.stderr.trim()).error.code, 'MSB_CLI_CONTRACT');
  assert.equal(r.stdout, '');
  const ls = await runCli(['ls', root]);
  assert.notEqual(ls.code, 0, 'init did not run: no store was created');
});
