import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding package.json). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `../shared/testdata` beside the checkout: real models and Triton configs with their provenance. */
export const testdataDir = path.resolve(repoRoot, '..', 'shared', 'testdata');

export function testdata(...parts: string[]): string {
  const p = path.join(testdataDir, ...parts);
  if (!existsSync(p)) throw new Error(`test data missing: ${p} (is ../shared beside the checkout?)`);
  return p;
}
