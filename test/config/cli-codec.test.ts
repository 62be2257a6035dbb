import assert from 'node:assert/strict';
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { protocCanonical } from '../helpers/protoc.js';
import { tempDir } from '../helpers/tmp.js';

const densenet = testdata(
  'triton-configs',
  'triton-server',
  'docs',
  'examples',
  'model_repository',
  'densenet_onnx',
  'config.pbtxt',
);

test('config fmt --check lists a non-canonical file and exits 1; fmt rewrites it to protoc’s canonical form', {
  skip: skipWithout(densenet),
}, async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'config.pbtxt');
  await copyFile(densenet, file);
  const original = await readFile(file, 'utf8');
  const reference = protocCanonical(original);
  assert.ok(reference.ok);
  assert.notEqual(original, reference.text, 'fixture should not already be canonical');

  const check = await runCli(['config', 'fmt', '--check', file]);
  assert.equal(check.code, 1);
  assert.equal(check.stdout.trim(), file);
  assert.equal(await readFile(file, 'utf8'), original, '--check must not write');

  const fmt = await runCli(['config', 'fmt', file]);
  assert.equal(fmt.code, 0, fmt.stderr);
  assert.equal(await readFile(file, 'utf8'), reference.text);
  assert.equal((await runCli(['config', 'fmt', '--check', file])).code, 0);
});

test('config fmt reports a parse error with file:line:column and leaves the file alone', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'config.pbtxt');
  await writeFile(file, 'name: "m"\nmax_batch_size: "x"\n');
  const r = await runCli(['config', 'fmt', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:17: `));
  assert.equal(await readFile(file, 'utf8'), 'name: "m"\nmax_batch_size: "x"\n');
});

test('config json and from-json round-trip a real config', { skip: skipWithout(densenet) }, async () => {
  const json = await runCli(['config', 'json', densenet]);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.name, 'densenet_onnx');
  assert.equal(parsed.platform, 'onnxruntime_onnx');
  const back = await runCli(['config', 'from-json', '-'], { input: json.stdout });
  assert.equal(back.code, 0, back.stderr);
  const reference = protocCanonical(await readFile(densenet, 'utf8'));
  assert.ok(reference.ok);
  assert.equal(back.stdout, reference.text);
});

test('config from-json names the bad field', async () => {
  const r = await runCli(['config', 'from-json', '-'], { input: '{"input": [{"dataType": "FP32"}]}' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /MSB_TEXTFORMAT_ENUM.*input\[0\]\.dataType/);
});

test('a missing file is a clear error', async () => {
  const r = await runCli(['config', 'json', '/nonexistent/config.pbtxt']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot read \/nonexistent\/config\.pbtxt/);
});

test('config check refuses a device and a file over 16 MiB before reading them', async () => {
  const device = await runCli(['config', 'check', '/dev/urandom'], { timeoutMs: 30_000 });
  // A file msb cannot read is input it could not run on: the coded line, exit 2.
  assert.equal(device.code, 2);
  assert.match(device.stderr, /^msb: MSB_CLI_NOT_A_FILE: \/dev\/urandom is a character device, not a config file/);
  const big = path.join(await tempDir(), 'config.pbtxt');
  // Sparse: 17 MiB on paper, nothing written; refused from its size alone.
  await writeFile(big, '');
  await truncate(big, 17 * 1024 * 1024);
  const large = await runCli(['config', 'check', big]);
  assert.equal(large.code, 2);
  assert.match(large.stderr, /^msb: MSB_CLI_FILE_TOO_LARGE: .*is 17825792 bytes; a config file is at most 16 MiB/);
  const stdin = await runCli(['config', 'json', '-'], { input: 'x'.repeat(17 * 1024 * 1024) });
  assert.equal(stdin.code, 2);
  assert.match(stdin.stderr, /MSB_CLI_FILE_TOO_LARGE/);
});
