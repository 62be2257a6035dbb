/**
 * Publishing a large model file: msb `addVersion` (staged copy + fsync + atomic rename) against `cp` of the same
 * file in the same run, plus msb's `link` transfer (O(1)). The file is random bytes (nothing sparse or compressible)
 * and lives on the store's filesystem; every run is repeated and the median reported. Two baselines: plain `cp`
 * (data may still be in the page cache when it returns) and `cp` followed by `sync FILE` (as durable as msb's
 * publish). Usage: npm run bench:publish [-- --gib 2 --runs 3 --dir /path/on/the/filesystem]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelStore } from '../src/store/index.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const gib = Number(arg('gib', '2'));
const runs = Number(arg('runs', '3'));
const base = await mkdtemp(path.join(arg('dir', os.tmpdir()), 'msb-bench-publish-'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const time = async (fn: () => Promise<unknown> | unknown) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
};

try {
  const source = path.join(base, 'model.onnx');
  const bytes = Math.round(gib * 1024 ** 3);
  const fh = await open(source, 'w');
  for (let written = 0; written < bytes; ) {
    const n = Math.min(64 * 1024 * 1024, bytes - written);
    await fh.write(randomBytes(n));
    written += n;
  }
  await fh.sync();
  await fh.close();

  // The store's staging directory is its sibling, inside `base`, so the clean-up below removes it too.
  const store = await ModelStore.open(path.join(base, 'repo'), { create: true });
  const model = await store.createModel('big', { platform: 'onnxruntime_onnx' });
  const t = { cp: [] as number[], cpSync: [] as number[], msb: [] as number[], link: [] as number[] };
  const dest = path.join(base, 'copy.onnx');
  for (let i = 0; i < runs; i++) {
    // Alternate so page-cache and disk state favour neither side.
    t.cp.push(await time(() => sh('cp', [source, dest])));
    await rm(dest);
    t.cpSync.push(await time(() => sh('sh', ['-c', `cp "$1" "$2" && sync "$2"`, 'cp', source, dest])));
    await rm(dest);
    let v = 0;
    t.msb.push(
      await time(async () => {
        v = await model.addVersion(source);
      }),
    );
    await model.removeVersion(v);
    t.link.push(
      await time(async () => {
        v = await model.addVersion(source, { transfer: 'link' });
      }),
    );
    await model.removeVersion(v);
  }
  const gb = bytes / 1e9;
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(34)} ${median(xs).toFixed(3).padStart(8)} s ${(gb / median(xs)).toFixed(2).padStart(8)} GB/s`;
  process.stdout.write(`file: ${gib} GiB of random bytes on ${base} (${runs} runs, median)\n`);
  process.stdout.write(`${row('cp', t.cp)}\n${row('cp + sync FILE', t.cpSync)}\n`);
  process.stdout.write(`${row('msb addVersion (copy, fsync)', t.msb)}\n${row('msb addVersion (link)', t.link)}\n`);
  process.stdout.write(
    `msb copy speed vs cp:            ${(median(t.cp) / median(t.msb)).toFixed(2)}x (target >= 0.9x)\n`,
  );
  process.stdout.write(`msb copy speed vs cp + sync:     ${(median(t.cpSync) / median(t.msb)).toFixed(2)}x\n`);
  process.stdout.write(`msb link speed vs cp:            ${(median(t.cp) / median(t.link)).toFixed(0)}x\n`);
} finally {
  await rm(base, { recursive: true, force: true });
}
