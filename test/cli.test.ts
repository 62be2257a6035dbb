import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './helpers/cli.js';

test('msb --help lists the command groups', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: msb/);
  assert.match(r.stdout, /config/);
});

test('an unknown command exits 2 with a message', async () => {
  const r = await runCli(['no-such-command']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command/);
});

/** A Node stack frame ("    at fn (file:line:col)"): no input may make the CLI print one. */
const STACK_FRAME = /^\s+at .+[:(]/m;

test('an invalid --version is one line naming the problem, exit 2, no stack (it is rejected while commander parses)', async () => {
  const r = await runCli(['rm', 'some-store', 'some-model', '--version', '../..']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^msb: MSB_STORE_INVALID_NAME: invalid version "\.\.\/\.\."/);
  assert.doesNotMatch(r.stderr, STACK_FRAME);
});

test('bad input across commands never prints a stack trace', async () => {
  const cases: string[][] = [
    ['version', 'add', 'store', 'm', 'file', '--version', '0'],
    ['version', 'rm', 'store', 'm', 'x'],
    ['inspect', 'no-such-file.onnx'],
    ['config', 'check', 'no-such-config.pbtxt'],
    ['config', 'generate', '--max-batch-size', 'many'],
    ['config', 'set', 'no-such-store', 'm', '--set', 'max_batch_size=8'],
    ['enqueue', 'build', 'model.onnx', '--target', 'latest'],
    ['ls', 'no-such-store'],
  ];
  for (const args of cases) {
    const r = await runCli(args);
    assert.ok(r.code === 1 || r.code === 2, `${args.join(' ')}: exit ${r.code}`);
    assert.doesNotMatch(r.stderr, STACK_FRAME, args.join(' '));
    assert.ok(r.stderr.trim().length > 0, `${args.join(' ')}: says what is wrong`);
  }
});
