/**
 * ONNX inspection speed and memory on a large model: msb's streaming reader against the reference
 * `onnx.load(path, load_external_data=False)` (Debian python3-onnx), same file, same run. The model (default
 * 1088 MiB of real float32 initializers, embedded in the file) is generated, measured, then removed.
 * Each side runs in its own process so peak RSS is its own. msb runs from the built `dist/` (npm run build), so
 * the figure is the reader's, not the TypeScript loader's.
 * Usage: npm run bench:inspect-onnx [-- --size-mb N]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.MSB_PYTHON ?? '/usr/bin/python3';
const helper = path.join(root, 'bench', 'inspect_onnx_reference.py');
const sizeArg = process.argv.indexOf('--size-mb');
const sizeMb = sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : 1088;
const built = path.join(root, 'dist', 'inspect', 'index.js');
if (!existsSync(built)) throw new Error('run `npm run build` first: the benchmark measures the built reader');

const dir = mkdtempSync(path.join(os.tmpdir(), 'msb-bench-onnx-'));
try {
  const model = path.join(dir, 'big.onnx');
  execFileSync(python, [helper, 'make', model, String(sizeMb)], { stdio: 'inherit' });
  const bytes = statSync(model).size;

  // msb: a fresh node process, the reader only; the time is measured around the call, the RSS is the process peak.
  const msbScript = `
    const { inspectOnnx } = await import(${JSON.stringify(built)});
    const t = performance.now();
    const info = await inspectOnnx(${JSON.stringify(model)});
    const seconds = (performance.now() - t) / 1000;
    console.log(JSON.stringify({ seconds, maxRssKiB: process.resourceUsage().maxRSS, inputs: info.signature.inputs.map((i) => i.name) }));`;
  const msb = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', msbScript]).toString());
  const ref = JSON.parse(execFileSync(python, [helper, 'load', model], { maxBuffer: 1 << 26 }).toString());
  const nodeBaseline = JSON.parse(
    execFileSync(process.execPath, [
      '-e',
      'console.log(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }))',
    ]).toString(),
  );

  const mib = (kib: number) => (kib / 1024).toFixed(1);
  console.log(`model: ${(bytes / 2 ** 20).toFixed(0)} MiB of ONNX (initializers embedded)`);
  console.log(
    `msb inspectOnnx:            ${(msb.seconds * 1000).toFixed(1)} ms, peak RSS ${mib(msb.maxRssKiB)} MiB (an empty node process: ${mib(nodeBaseline.maxRssKiB)} MiB)`,
  );
  console.log(`onnx.load (no ext. data):   ${(ref.seconds * 1000).toFixed(1)} ms, peak RSS ${mib(ref.maxRssKiB)} MiB`);
  console.log(`speed-up: ${(ref.seconds / msb.seconds).toFixed(0)}x (target >= 20x); msb peak RSS target < 64 MiB`);
  const refInputs = (ref.inputs as string[]).filter((n: string) => !n.startsWith('W'));
  if (JSON.stringify(msb.inputs) !== JSON.stringify(refInputs))
    throw new Error(`signatures differ: ${msb.inputs} vs ${refInputs}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
