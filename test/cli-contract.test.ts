import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram, COMMAND_MODULES } from '../src/cli/program.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

/** The contract: bad input is one line `msb: CODE: message`, exit 2; never MSB_INTERNAL (70), never a stack. */
function assertOneCodedLine(r: { code: number | null; stderr: string }, code: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
  assert.match(r.stderr, code, what);
}

test('msb init where no directory can be made: one coded line, exit 2 (was MSB_INTERNAL, exit 70)', async () => {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'imagenet.txt'), 'cat\n');
  await symlink(path.join(dir, 'nothing-here'), path.join(dir, 'dangling'));
  for (const [target, why] of [
    ['imagenet.txt/sub', /imagenet\.txt is not a directory/],
    ['dangling/store', /dangling is a link to nothing/],
    ['/sys/nope', /\/sys does not take new directories/],
  ] as const) {
    const r = await runCli(['init', target], { cwd: dir });
    assertOneCodedLine(r, /^msb: MSB_STORE_NOT_A_STORE: cannot create model store /, target);
    assert.match(r.stderr, why, target);
  }
});

test('msb init /proc/nope returns promptly (Node’s recursive mkdir spun there forever)', async () => {
  const started = Date.now();
  const r = await runCli(['init', '/proc/nope/store'], { timeoutMs: 30_000 });
  assertOneCodedLine(r, /^msb: MSB_STORE_NOT_A_STORE: cannot create model store \/proc\/nope\/store: ENOENT/, 'proc');
  assert.ok(Date.now() - started < 30_000);
});

test('msb init still makes every missing level of a new store', async () => {
  const dir = await tempDir();
  const r = await runCli(['init', path.join(dir, 'a', 'b', 'store')]);
  assert.equal(r.code, 0, r.stderr);
  const again = await runCli(['init', path.join(dir, 'a', 'b', 'store')]);
  assert.equal(again.code, 0, again.stderr);
});

test('msb config check of a missing file or a directory: coded line, exit 2 (was exit 1, no code)', async () => {
  const dir = await tempDir();
  const missing = await runCli(['config', 'check', 'nonexist/config.pbtxt'], { cwd: dir });
  assertOneCodedLine(missing, /^msb: MSB_CLI_READ: cannot read nonexist\/config\.pbtxt: ENOENT/, 'missing');
  const directory = await runCli(['config', 'check', dir], { cwd: dir });
  assertOneCodedLine(directory, /^msb: MSB_CLI_NOT_A_FILE: .* is a directory, not a config file/, 'directory');
});

test('msb config check --no-name-check accepts a config without name (Triton takes the directory name)', async () => {
  const dir = path.join(await tempDir(), 'resnet');
  await mkdir(dir);
  const file = path.join(dir, 'config.pbtxt');
  await writeFile(
    file,
    'platform: "onnxruntime_onnx"\nmax_batch_size: 0\ninput [{ name: "x" data_type: TYPE_FP32 dims: [1] }]\noutput [{ name: "y" data_type: TYPE_FP32 dims: [1] }]\n',
  );
  const r = await runCli(['config', 'check', '--no-name-check', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  // A name that differs from the directory is what --no-name-check allows.
  await writeFile(file, `name: "other"\n${'platform: "onnxruntime_onnx"\nmax_batch_size: 0\n'}`);
  assert.equal((await runCli(['config', 'check', '--no-name-check', file])).code, 0);
  const checked = await runCli(['config', 'check', file]);
  assert.equal(checked.code, 1);
  assert.match(checked.stderr, /does not match its directory 'resnet'/);
});

test('unknown options and commands: one line with a hint, not pages of help', async () => {
  for (const [args, line] of [
    [['inspect', '--bogus', 'x.onnx'], "msb: MSB_CLI_USAGE: unknown option '--bogus' (see msb inspect --help)"],
    [['bogus'], "msb: MSB_CLI_USAGE: unknown command 'bogus' (see msb --help)"],
    [['jobs', 'bogus'], "msb: MSB_CLI_USAGE: unknown command 'bogus' (see msb jobs --help)"],
    [['config', 'check'], "msb: MSB_CLI_USAGE: missing required argument 'file' (see msb config check --help)"],
  ] as const) {
    const r = await runCli([...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr, `${line}\n`, args.join(' '));
    assert.equal(r.stdout, '');
  }
});

test('msb --version prints the package version; a command’s own --version is still its own', async () => {
  const { version } = (await import('../package.json', { with: { type: 'json' } })).default;
  for (const flag of ['--version', '-V']) {
    const r = await runCli([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
  }
  const rm = await runCli(['rm', 'no-store', 'm', '--version', '../..']);
  assert.equal(rm.code, 2);
  assert.match(rm.stderr, /MSB_STORE_INVALID_NAME/);
});

test('every command, argument and option in the tree has help text', async () => {
  const missing: string[] = [];
  const walk = (cmd: Command, parent: string) => {
    const name = `${parent} ${cmd.name()}`.trim();
    if (!cmd.description()) missing.push(`${name}: no description`);
    for (const a of cmd.registeredArguments) if (!a.description) missing.push(`${name} <${a.name()}>: no text`);
    for (const o of cmd.options) if (!o.description) missing.push(`${name} ${o.flags}: no text`);
    for (const sub of cmd.commands) walk(sub, name);
  };
  const program = await buildProgram();
  walk(program, '');
  assert.deepEqual(missing, []);
  assert.ok(program.commands.length >= 10, 'the walk saw the command tree');
});

test('each command line loads only its command module, and the table of modules matches the tree', async () => {
  const all = (await buildProgram()).commands.map((c) => c.name());
  assert.deepEqual(
    COMMAND_MODULES.flatMap((m) => m.names),
    all,
  );
  for (const m of COMMAND_MODULES) {
    const one = await buildProgram(['node', 'msb', m.names[0] as string, '--help']);
    assert.deepEqual(
      one.commands.map((c) => c.name()),
      m.names,
    );
  }
  // No command (or an unknown one): the whole tree, so help and "unknown command" see everything.
  assert.equal((await buildProgram(['node', 'msb', '--help'])).commands.length, all.length);
  assert.equal((await buildProgram(['node', 'msb', 'nosuch'])).commands.length, all.length);
});

test('a command against a down Redis says what it tried and for how long; --redis-timeout and MSB_REDIS_TIMEOUT_MS bound it', async () => {
  const { freePort } = await import('./helpers/redis.js');
  const url = `redis://127.0.0.1:${await freePort()}`; // nothing listens there
  for (const [args, env, bound] of [
    [['jobs', 'ls', '--redis', url, '--redis-timeout', '1'], {}, '1'],
    [['cid', 'ls', 'm', '--redis', url, '--redis-timeout', '0.5'], {}, '0.5'],
    [['jobs', 'show', 'abc', '--redis', url], { MSB_REDIS_TIMEOUT_MS: '1500' }, '1.5'],
  ] as const) {
    const started = Date.now();
    const r = await runCli([...args], { env });
    const took = Date.now() - started;
    assertOneCodedLine(
      r,
      /^msb: MSB_REDIS_UNREACHABLE: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED/,
      args[0],
    );
    assert.match(r.stderr, /, trying for \d+\.\d s \(/, args.join(' '));
    assert.match(
      r.stderr,
      new RegExp(`a command waits ${bound.replace('.', '\\.')} s: --redis-timeout SECONDS or MSB_REDIS_TIMEOUT_MS`),
    );
    // Start-up (tsx, a loaded machine) plus the bound; before, a refused connection also sat out ioredis' 2 s
    // disconnect timer, and there was no bound to give.
    assert.ok(took < Number(bound) * 1000 + 8000, `${args.join(' ')}: ${took} ms`);
  }
  const bad = await runCli(['jobs', 'ls', '--redis-timeout', 'never']);
  assertOneCodedLine(bad, /^msb: MSB_CLI_ARGUMENT: --redis-timeout takes a number of seconds > 0, got 'never'/, 'bad');
});

test('an S3 command on Node 20 prints its one line, not the AWS SDK’s 9-line NodeVersionSupportWarning before it', async () => {
  const { freePort } = await import('./helpers/redis.js');
  const env = {
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'y',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '',
  };
  const r = await runCli(['ls', `s3://127.0.0.1:${await freePort()}/bucket/models`], { env });
  assertOneCodedLine(r, /^msb: MSB_STORE_BACKEND: .*s3:\/\/127\.0\.0\.1:\d+\/bucket\/.*ECONNREFUSED/, process.version);
  assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning/);
});
