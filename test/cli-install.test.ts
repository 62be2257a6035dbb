import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const run = promisify(execFile);
const built = path.join(repoRoot, 'dist', 'cli', 'main.js');

test('the README install path puts msb on PATH for a fresh shell, under the package name npm can publish', {
  // `npm ci` builds dist/ (the prepare script); a checkout that never ran it has no CLI to install.
  skip: existsSync(built) ? false : 'dist/ is not built (npm ci or npm run build makes it)',
}, async () => {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    bin: Record<string, string>;
  };
  // `msb` on npm is an unrelated package (msb@1.2.2); the command stays msb.
  assert.notEqual(pkg.name, 'msb');
  assert.deepEqual(Object.keys(pkg.bin), ['msb']);
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  assert.match(readme, /npm install -g \./, 'the README says how to put msb on PATH');
  // The README's `npm install -g .`, into a private prefix instead of the machine's.
  const prefix = await tempDir();
  await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', repoRoot], {
    timeout: 120_000,
  });
  const home = await tempDir();
  // A fresh shell: nothing of this process's environment but node's own directory on PATH.
  const env = {
    HOME: home,
    PATH: [path.join(prefix, 'bin'), path.dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
  };
  const version = await run('msb', ['--version'], { cwd: home, env });
  assert.equal(version.stdout, `${pkg.version}\n`);
  const help = await run('msb', ['inspect', '--help'], { cwd: home, env });
  assert.match(help.stdout, /^Usage: msb inspect/);
});
