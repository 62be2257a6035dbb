import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding package.json). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The real corpora (models and Triton configs from other repositories, with their provenance): `$MSB_TESTDATA`,
 * default `../shared/testdata` beside the checkout. They are never copied into this repository, so a plain clone
 * has none: the tests that need them skip (see {@link skipWithout}), unless `MSB_REQUIRE_TESTDATA=1` (CI, .ci/run)
 * makes a missing corpus a failure.
 */
export const testdataDir = path.resolve(repoRoot, process.env.MSB_TESTDATA ?? path.join('..', 'shared', 'testdata'));

const required = process.env.MSB_REQUIRE_TESTDATA === '1';

/**
 * A path in the corpora. When it is absent: with MSB_REQUIRE_TESTDATA=1 an error (the test file fails), else the
 * path all the same, and the tests that use it pass `{ skip: skipWithout(path) }`.
 */
export function testdata(...parts: string[]): string {
  const p = path.join(testdataDir, ...parts);
  if (required && !existsSync(p)) {
    throw new Error(`test data missing: ${p} (MSB_REQUIRE_TESTDATA=1: CI runs every corpus suite)`);
  }
  return p;
}

/**
 * node:test's `skip` option for tests that need corpus paths: false when all exist, else the one line the run
 * shows for the skipped test (and test/helpers/skip-summary.mjs gathers at the end).
 */
export function skipWithout(...paths: string[]): string | false {
  const missing = paths.find((p) => !existsSync(p));
  if (missing === undefined) return false;
  return `test data missing: ${path.relative(testdataDir, missing) || '.'} under ${testdataDir} (set MSB_TESTDATA, or put ../shared beside the checkout)`;
}
