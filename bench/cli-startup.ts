/**
 * CLI start-up: wall time and peak RSS of whole `msb` processes against `node -e 0`, measured in the same run
 * (rounds interleave the commands, so a busy machine slows them all alike). Also Python's `onnx.load` of the same
 * small model (Debian python3-onnx, the whole `python3` process), the reference a user compares `msb inspect` with.
 * msb runs from the built `dist/cli/main.js` (npm run build): what an installed `msb` runs, not the TypeScript loader.
 * Targets (issue 10): every command within 2.5x of `node -e 0`; `msb inspect` faster than the Python reference.
 * Usage: npm run bench:cli-startup [-- --runs N] [--cli path/to/main.js (another build, e.g. a checkout of an older commit)]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.MSB_PYTHON ?? '/usr/bin/python3';
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;
const cliArg = process.argv.indexOf('--cli');
const cli = cliArg > 0 ? path.resolve(process.argv[cliArg + 1] as string) : path.join(root, 'dist', 'cli', 'main.js');
if (!existsSync(cli)) throw new Error('run `npm run build` first: the benchmark measures the built CLI');

// A small model (a 144x144 float32 MatMul weight, about 80 KiB), written by the reference library.
const MAKE_MODEL = `
import sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper, save
w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((144, 144), dtype=np.float32), "W")
graph = helper.make_graph([helper.make_node("MatMul", ["input", "W"], ["output"])], "small",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 144])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 144])], [w])
save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
`;

interface Case {
  name: string;
  cmd: string;
  args: string[];
}

/** Runs one process under /usr/bin/time (every case alike, the baseline too): wall ms and peak RSS in KiB. */
function measure(c: Case): { ms: number; rssKiB: number } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', c.cmd, ...c.args], { encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  return { ms, rssKiB: Number(lines[lines.length - 1]) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'msb-bench-cli-'));
try {
  const model = path.join(dir, 'small.onnx');
  execFileSync(python, ['-c', MAKE_MODEL, model]);
  const store = path.join(dir, 'store');
  execFileSync(process.execPath, [cli, 'add', '--store-path', store, '--onnx', model]);
  const config = path.join(store, 'small', 'config.pbtxt');

  const node = process.execPath;
  const cases: Case[] = [
    { name: 'node -e 0', cmd: node, args: ['-e', '0'] },
    { name: 'msb --help', cmd: node, args: [cli, '--help'] },
    { name: 'msb inspect --json small.onnx', cmd: node, args: [cli, 'inspect', '--json', model] },
    { name: 'msb config check config.pbtxt', cmd: node, args: [cli, 'config', 'check', config] },
    { name: 'msb ls store', cmd: node, args: [cli, 'ls', store] },
    {
      name: 'python3: onnx.load(small.onnx)',
      cmd: python,
      args: ['-c', 'import sys, onnx; onnx.load(sys.argv[1])', model],
    },
  ];
  for (const c of cases) measure(c); // warm the page cache and the compile caches
  const samples = new Map(cases.map((c) => [c.name, [] as { ms: number; rssKiB: number }[]]));
  for (let i = 0; i < runs; i++) for (const c of cases) samples.get(c.name)?.push(measure(c));

  const base = median((samples.get('node -e 0') ?? []).map((s) => s.ms));
  console.log(`small.onnx: ${(statSync(model).size / 1024).toFixed(0)} KiB; median of ${runs} runs, interleaved`);
  console.log('| command | wall (ms) | × node -e 0 | peak RSS (MiB) |');
  console.log('|---|---:|---:|---:|');
  for (const c of cases) {
    const s = samples.get(c.name) ?? [];
    const ms = median(s.map((x) => x.ms));
    const rss = median(s.map((x) => x.rssKiB)) / 1024;
    console.log(`| \`${c.name}\` | ${ms.toFixed(0)} | ${(ms / base).toFixed(2)} | ${rss.toFixed(0)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
