/**
 * Fuzzing the ONNX reader with mutated real models (bit flips, overwritten bytes, truncation, inserted bytes) on a
 * bounded budget: every input must give a signature or an InspectError, promptly, without growing memory.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { InspectError, inspectOnnx } from '../../src/inspect/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';

const RUNS = Number(process.env.MSB_FUZZ_RUNS ?? 300);

const seedFiles = [
  ['light', 'light_squeezenet.onnx'],
  ['light', 'light_inception_v1.onnx'],
  ['pytorch-operator', 'test_operator_conv', 'model.onnx'],
].map((p) => testdata('onnx', 'onnx-backend', ...p));
const skip = skipWithout(...seedFiles);
const seeds = skip ? [] : await Promise.all(seedFiles.map((f) => readFile(f)));

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
);

type Mutation = { kind: string; at: number; bit?: number; value?: number; bytes?: Uint8Array };

function mutate(seed: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(seed);
  for (const m of ms) {
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at] = (b[at] as number) ^ (1 << (m.bit as number));
    else if (m.kind === 'set') b[at] = m.value as number;
    else if (m.kind === 'cut') b = b.subarray(0, Math.max(1, at));
    else b = Buffer.concat([b.subarray(0, at), m.bytes as Uint8Array, b.subarray(at)]);
  }
  return b;
}

test('mutated real models give a signature or an InspectError, within bounds', { skip }, async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'fuzz.onnx');
  const rssBefore = process.memoryUsage().rss;
  let errors = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: seeds.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      async (i, ms) => {
        await writeFile(file, mutate(seeds[i] as Buffer, ms));
        const started = performance.now();
        try {
          const info = await inspectOnnx(file);
          assert.ok(Array.isArray(info.signature.inputs) && Array.isArray(info.signature.outputs));
        } catch (err) {
          assert.ok(err instanceof InspectError, `not an InspectError: ${String((err as Error).stack)}`);
          errors++;
        }
        assert.ok(performance.now() - started < 2000, 'took longer than 2 s');
      },
    ),
    { numRuns: RUNS },
  );
  const grownMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(grownMiB < 200, `RSS grew by ${grownMiB.toFixed(0)} MiB`);
  process.stdout.write(
    `# fuzz: ${RUNS} mutated models, ${errors} refused with InspectError, RSS +${grownMiB.toFixed(1)} MiB\n`,
  );
});
