/**
 * schemathesis (PyPI, pinned in .ci/requirements-fuzz.txt, venv .venv/fuzz) fuzzes the API against its own OpenAPI
 * document with an admin token: no request may get a 5xx (the only documented one is the 503 of Redis down, and
 * Redis is up here) or hang past its timeout. Skips with one line without the venv. Not yet checked: status codes
 * and bodies the document does not declare (its routes do not list their problem responses; see docs/serve.md).
 */
import assert from 'node:assert/strict';

import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot } from '../helpers/paths.js';
import { type Harness, startHarness } from './harness.js';

const ST = path.join(repoRoot, '.venv', 'fuzz', 'bin', 'st');
const skip = existsSync(ST)
  ? false
  : 'no .venv/fuzz (python3 -m venv .venv/fuzz && .venv/fuzz/bin/pip install -r .ci/requirements-fuzz.txt)';

let h: Harness;
before(async () => {
  if (!skip) h = await startHarness();
});
after(() => (skip ? undefined : h.close()));

test('schemathesis: no 5xx and no hang on any operation of the OpenAPI document', { skip }, async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    ST,
    [
      'run',
      `${h.server.url}/v1/openapi.json`,
      '--url',
      h.server.url,
      '-H',
      `Authorization: Bearer ${h.tokens.admin}`,
      '--checks',
      'not_a_server_error',
      '--max-examples',
      '25',
      '--workers',
      '1',
      '--request-timeout',
      '10',
      '--seed',
      '1',
    ],
    // schemathesis keeps a crash cache (.schemathesis/) in its working directory: a temporary one, not the clone.
    {
      cwd: mkdtempSync(path.join(os.tmpdir(), 'msb-fuzz-')),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  process.stderr.write(`${out.slice(out.indexOf('SUMMARY'))}\n`);
  assert.equal(code, 0, out.slice(-4000));
  assert.match(out, /Tested: \d+/);
});
