/**
 * Every benchmark in bench/, each in a short smoke mode, one after another: CI runs this (`npm run bench:smoke`, from
 * .ci/run) so that no benchmark rots unnoticed (bench:queue crashed for weeks on a queue-prefix change). A smoke run
 * checks that each benchmark runs to its end and prints its ratio line; its numbers are too small to compare.
 * A new benchmark is added to SMOKE below with arguments that finish in seconds.
 * Usage: npm run bench:smoke [-- name ...]   (builds dist/ first: bench:api, bench:cli-startup and
 * bench:onnx-convert run the built CLI)
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);

/** Each benchmark file's smoke arguments; every bench/*.ts but this one must be listed (checked below). */
const SMOKE: Record<string, string[]> = {
  'api.ts': ['--jobs', '20', '--mib', '8'],
  'cid.ts': ['--seconds', '0.5', '--rounds', '1'],
  // its own smoke mode; says it skipped without the real Triton of .venv/triton (.ci/python-deps triton)
  'cid-triton.ts': ['--smoke'],
  'cli-startup.ts': ['--runs', '2'],
  'config-textformat.ts': ['--seconds', '0.3'],
  'fleet.ts': ['--jobs', '8', '--workers', '1,2'],
  'inspect-onnx.ts': ['--size-mb', '4'],
  'onnx-convert.ts': ['--size-mb', '4'],
  'publish-s3.ts': ['--mib', '8', '--rounds', '1'],
  'publish.ts': ['--gib', '0.01', '--runs', '1'],
  'queue.ts': ['--jobs', '5'],
};
/** A smoke run that takes longer than this has stopped being a smoke run (or hangs). */
const LIMIT_MS = 180_000;

const files = readdirSync(here).filter((f) => f.endsWith('.ts') && f !== 'smoke.ts');
const unlisted = files.filter((f) => !(f in SMOKE));
if (unlisted.length) {
  console.error(`bench/smoke.ts: no smoke arguments for ${unlisted.join(', ')}: add them to SMOKE`);
  process.exit(1);
}
const only = process.argv.slice(2).map((n) => (n.endsWith('.ts') ? n : `${n}.ts`));
const chosen = Object.keys(SMOKE).filter((f) => files.includes(f) && (only.length === 0 || only.includes(f)));

function run(file: string): Promise<{ code: number | null; ms: number; last: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, file), ...(SMOKE[file] ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let last = '';
    const relay = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
      stream.write(chunk);
      const lines = chunk.toString().trim().split('\n');
      last = lines[lines.length - 1] ?? last;
    };
    child.stdout.on('data', relay(process.stdout));
    child.stderr.on('data', relay(process.stderr));
    const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: Date.now() - started, last });
    });
  });
}

const summary: string[] = [];
let failed = 0;
for (const file of chosen) {
  console.log(`== bench/${file} ${(SMOKE[file] ?? []).join(' ')}`);
  const r = await run(file);
  const ok = r.code === 0;
  if (!ok) failed++;
  summary.push(
    `${ok ? 'ok  ' : 'FAIL'} ${file.padEnd(22)} ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${ok ? '' : `exit ${r.code ?? 'killed'}`}`,
  );
}
console.log(`\nbench smoke: ${chosen.length - failed} of ${chosen.length} ran to the end`);
for (const line of summary) console.log(line);
process.exit(failed ? 1 : 0);
