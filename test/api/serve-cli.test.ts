/**
 * `msb serve` checks what it is given before it starts: a tokens file that is missing or lets no one in, a store
 * that does not exist, a bad number, a port already taken — each one line `msb: CODE: message`, exit 2, and the
 * process ends (it does not keep running without listening). The real CLI as a child process.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { freePort, TestRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';

const dir = await tempDir();
const store = path.join(dir, 'store');
const artifacts = path.join(dir, 'artifacts');
await mkdir(store);
// Nothing listens here: a check that needed Redis would hang or say "cannot reach Redis" instead.
const redis = `redis://127.0.0.1:${await freePort()}`;

async function serve(...args: string[]) {
  return runCli(['serve', '--redis', redis, ...args], { timeoutMs: 30_000 });
}

/** One line on stderr with the code, exit 2, nothing on stdout. */
function refused(r: { code: number | null; stdout: string; stderr: string }, code: string, message: RegExp) {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, new RegExp(`^msb: ${code}: `));
  assert.match(lines[0] as string, message);
}

test('--tokens naming a file that does not exist is refused at start-up (it used to answer every request 401)', async () => {
  const missing = path.join(dir, 'nosuch.json');
  const r = await serve('--store', store, '--artifacts', artifacts, '--tokens', missing, '--port', '0');
  refused(r, 'MSB_API_TOKENS', /nosuch\.json does not exist \(create one with: msb token add/);
});

test('a tokens file without any token is refused; so is one that is not a tokens file', async () => {
  const empty = path.join(dir, 'empty.json');
  await writeFile(empty, '{"msb":1,"tokens":[]}\n');
  refused(
    await serve('--store', store, '--artifacts', artifacts, '--tokens', empty, '--port', '0'),
    'MSB_API_TOKENS',
    /holds no token/,
  );
  const junk = path.join(dir, 'junk.json');
  await writeFile(junk, 'not json');
  refused(
    await serve('--store', store, '--artifacts', artifacts, '--tokens', junk, '--port', '0'),
    'MSB_API_TOKENS',
    /is not valid/,
  );
});

test('--store naming a directory that does not exist (or a file) is refused at start-up', async () => {
  refused(
    await serve('--store', path.join(dir, 'nonexistent'), '--artifacts', artifacts, '--port', '0'),
    'MSB_STORE_NOT_FOUND',
    /nonexistent does not exist/,
  );
  const file = path.join(dir, 'file');
  await writeFile(file, 'x');
  refused(
    await serve('--store', file, '--artifacts', artifacts, '--port', '0'),
    'MSB_STORE_NOT_A_STORE',
    /not a directory/,
  );
});

test('--port and --max-artifact-bytes take whole numbers in range', async () => {
  for (const port of ['abc', '-1', '65536', '80.5']) {
    refused(
      await serve('--store', store, '--artifacts', artifacts, '--port', port),
      'MSB_CLI_ARGUMENT',
      /--port takes a whole number from 0 to 65535/,
    );
  }
  refused(
    await serve('--store', store, '--artifacts', artifacts, '--port', '0', '--max-artifact-bytes', '1e9'),
    'MSB_CLI_ARGUMENT',
    /--max-artifact-bytes takes a whole number/,
  );
});

test('a port in use: one line naming it, exit 2, and the process ends (it used to print MSB_INTERNAL and keep running)', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  // A real Redis, as in production: the refusal is the only line, and the connections it opened do not hold the
  // process.
  const redis = await TestRedis.start();
  try {
    const started = Date.now();
    const r = await runCli(
      ['serve', '--redis', redis.url, '--store', store, '--artifacts', artifacts, '--port', String(port)],
      { timeoutMs: 30_000 },
    );
    refused(r, 'MSB_API_BIND', new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
    assert.ok(Date.now() - started < 20_000, 'ended by itself');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
    await redis.stop();
  }
});

test('the help says which options are required', async () => {
  const r = await runCli(['serve', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--store <path>\s+required:/);
  assert.match(r.stdout, /--artifacts <dir\|uri>\s+required:/);
  const missing = await serve('--store', store);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--artifacts/);
});
