import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers/paths.js';

/**
 * What `msb` loads before it runs a command: an ESM loader hook (registered ahead of tsx) reports every module URL
 * the process loads. Start-up time is a benchmark (bench/cli-startup.ts); this test keeps the structure that makes it
 * fast: commands import the library inside their actions.
 */
const HOOK = `export async function load(url, context, next) { process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); }`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`;

function loadedBy(args: string[]): string[] {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(REGISTER)}`,
      '--import',
      import.meta.resolve('tsx'),
      path.join(repoRoot, 'src', 'cli', 'main.ts'),
      ...args,
    ],
    { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 },
  );
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => l.slice('LOADED '.length));
}

/** The error classes and name checks option parsers use: cheap, and loaded by every command. */
const SHARED = /\/src\/(errors|[a-z]+\/errors|[a-z]+\/names)\.ts$/;
const HEAVY = /node_modules\/(bullmq|ioredis|zod|protobufjs|prom-client|fastify|@aws-sdk|onnxruntime-node|pino|yaml)\//;

test('msb --help loads no library module and no heavy package', () => {
  const loaded = loadedBy(['--help']);
  assert.ok(
    loaded.some((u) => u.endsWith('/src/cli/main.ts')),
    'the hook saw the CLI load',
  );
  assert.deepEqual(
    loaded.filter((u) => HEAVY.test(u)),
    [],
  );
  // Only the CLI's own files, the error classes and the name checks their option parsers use.
  const library = loaded.filter((u) => u.includes('/src/') && !u.includes('/src/cli/'));
  assert.deepEqual(
    library.filter((u) => !SHARED.test(u)),
    [],
  );
});

test('msb inspect loads the inspect module but not the store, jobs, zod or protobufjs', () => {
  const loaded = loadedBy(['inspect', '--json', path.join(repoRoot, 'no-such-model.onnx')]);
  assert.ok(loaded.some((u) => u.endsWith('/src/inspect/index.ts')));
  assert.deepEqual(
    loaded.filter((u) => HEAVY.test(u) || (/\/src\/(store|jobs|server|tensorrt|config)\//.test(u) && !SHARED.test(u))),
    [],
  );
});
