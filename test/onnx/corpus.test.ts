/**
 * The corpus figure of `msb onnx convert` (issue 15): over the real models of ../shared/testdata/onnx that ONNX
 * Runtime can run, convert to FP16 with --keep-io-types and check each output with the reference checker
 * (`onnx.checker`, full check where the original passes it), its I/O types, its share of nodes in FP16 and its
 * outputs under `compare` at 1e-2; the same for BF16 where ONNX Runtime runs the converted model. Prints a table per
 * model family.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { compareModels, convertModel, type LowPrecision, openSession, randomFeeds } from '../../src/onnx/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { pythonHasOnnx, runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

const corpus = testdata('onnx');
const skip = skipWithout(corpus) || (pythonHasOnnx() ? false : 'python3-onnx is not installed');

function onnxFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = path.join(dir, n);
      return statSync(p).isDirectory() ? onnxFiles(p) : n.endsWith('.onnx') ? [p] : [];
    });
}

/** Checks converted models with the reference library in one Python run: checker verdict and I/O types. */
const CHECK = `
import json, sys, onnx
pairs = json.load(open(sys.argv[1]))
out = {}
for orig, conv in pairs:
    o = onnx.load(orig); c = onnx.load(conv)
    try:
        onnx.checker.check_model(o, full_check=True); full = True
    except Exception:
        full = False
    try:
        onnx.checker.check_model(c, full_check=full); err = None
    except Exception as e:
        err = str(e).splitlines()[0][:300]
    # Initializers listed as inputs (old IR versions) are weights, not inputs: msb's signature leaves them out.
    io = lambda m: [(v.name, v.type.tensor_type.elem_type) for v in list(m.graph.input) + list(m.graph.output)
                    if v.name not in {t.name for t in m.graph.initializer}]
    out[conv] = {'error': err, 'full': full, 'ioSame': io(o) == io(c)}
print(json.dumps(out))
`;

interface Row {
  family: string;
  file: string;
  converted: boolean;
  error?: string;
  lowShare: number;
  ortRuns: boolean;
  within: boolean;
  checker?: { error: string | null; full: boolean; ioSame: boolean };
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

async function ortRuns(file: string): Promise<boolean> {
  try {
    const s = await openSession(file);
    try {
      await s.run(randomFeeds(s.inputs, 1));
      return true;
    } finally {
      await s.close();
    }
  } catch {
    return false;
  }
}

async function runCorpus(precision: LowPrecision, files: string[], dir: string): Promise<Row[]> {
  const rows: Row[] = [];
  await pool(files, 2, async (file) => {
    const family = path.relative(corpus, file).split(path.sep)[1] ?? '';
    const out = path.join(dir, `${precision}-${path.relative(corpus, file).replaceAll(path.sep, '_')}`);
    const row: Row = { family, file, converted: false, lowShare: 0, ortRuns: false, within: false };
    rows.push(row);
    try {
      const report = await convertModel(file, out, { precision, keepIoTypes: true });
      row.converted = true;
      row.lowShare = report.lowShare;
    } catch (err) {
      row.error = (err as Error).message;
      return;
    }
    try {
      const cmp = await compareModels(file, out, { atol: 1e-2, rtol: 1e-2 });
      row.ortRuns = true;
      row.within = cmp.pass;
    } catch (err) {
      row.error = (err as Error).message.split('\n')[0];
    }
  });
  const pairs = rows.filter((r) => r.converted).map((r) => [r.file, outName(r, precision, dir)]);
  const json = path.join(dir, `${precision}-pairs.json`);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(json, JSON.stringify(pairs));
  const checked = JSON.parse(runPython(CHECK, [json], { timeoutMs: 300_000 })) as Record<string, Row['checker']>;
  for (const r of rows) if (r.converted) r.checker = checked[outName(r, precision, dir)];
  return rows.sort((a, b) => a.file.localeCompare(b.file));
}

const outName = (r: Row, precision: string, dir: string) =>
  path.join(dir, `${precision}-${path.relative(corpus, r.file).replaceAll(path.sep, '_')}`);

function table(precision: string, rows: Row[]): string {
  const fams = [...new Set(rows.map((r) => r.family))].sort();
  const lines = [
    `${precision} --keep-io-types over ../shared/testdata/onnx (models ONNX Runtime runs)`,
    'family\tmodels\tconverted\tchecker ok\tio types kept\tnodes low (mean)\tORT runs converted\twithin 1e-2',
  ];
  for (const f of [...fams, 'all']) {
    const rs = f === 'all' ? rows : rows.filter((r) => r.family === f);
    const conv = rs.filter((r) => r.converted);
    const pct = (n: number, d: number) => `${n}/${d} (${d ? ((100 * n) / d).toFixed(1) : '100.0'}%)`;
    lines.push(
      `${f}\t${rs.length}\t${pct(conv.length, rs.length)}\t${pct(conv.filter((r) => r.checker && !r.checker.error).length, conv.length)}\t${pct(conv.filter((r) => r.checker?.ioSame).length, conv.length)}\t${(
        (100 * conv.reduce((a, r) => a + r.lowShare, 0)) / Math.max(conv.length, 1)
      ).toFixed(
        1,
      )}%\t${pct(conv.filter((r) => r.ortRuns).length, conv.length)}\t${pct(conv.filter((r) => r.within).length, conv.filter((r) => r.ortRuns).length)}`,
    );
  }
  const failures = rows.filter((r) => !r.converted || r.checker?.error || (r.ortRuns && !r.within));
  for (const r of failures)
    lines.push(`  ${path.relative(corpus, r.file)}: ${r.error ?? r.checker?.error ?? 'outside 1e-2'}`);
  return `${lines.join('\n')}\n`;
}

test('corpus: convert fp16/bf16 --keep-io-types over the real ONNX models', { skip, timeout: 600_000 }, async () => {
  const dir = await tempDir('msb-corpus-');
  const all = onnxFiles(corpus);
  const runnable: string[] = [];
  await pool(all, 2, async (f) => {
    if (await ortRuns(f)) runnable.push(f);
  });
  runnable.sort();
  process.stdout.write(`${runnable.length} of ${all.length} models run in ONNX Runtime\n`);
  assert.ok(runnable.length >= 60, `only ${runnable.length} models run in ONNX Runtime`);

  const fp16 = await runCorpus('fp16', runnable, dir);
  process.stdout.write(table('fp16', fp16));
  const conv = fp16.filter((r) => r.converted);
  assert.ok(conv.length >= 0.95 * fp16.length, `converted ${conv.length}/${fp16.length}`);
  for (const r of conv) {
    assert.equal(r.checker?.error, null, `${r.file}: onnx.checker: ${r.checker?.error}`);
    assert.equal(r.checker?.ioSame, true, `${r.file}: I/O types changed`);
  }
  const low = conv.reduce((a, r) => a + r.lowShare, 0) / conv.length;
  assert.ok(low >= 0.8, `mean share of nodes in FP16 ${low}`);
  const ran = conv.filter((r) => r.ortRuns);
  assert.ok(ran.filter((r) => r.within).length >= 0.85 * ran.length, 'fewer than 85% within 1e-2');

  // BF16: models importing opset 13 or later (BF16 Casts need it).
  const bf16All = await runCorpus('bf16', runnable, dir);
  const bf16 = bf16All.filter((r) => !/BF16 needs ONNX opset 13 or later/.test(r.error ?? ''));
  process.stdout.write(
    `bf16: ${bf16All.length - bf16.length} of ${bf16All.length} models refused (opset < 13: MSB_ONNX_OPSET_TOO_OLD)\n`,
  );
  if (bf16.length) process.stdout.write(table('bf16', bf16));
  for (const r of bf16.filter((x) => x.converted)) {
    assert.equal(r.checker?.error, null, `${r.file}: onnx.checker (bf16): ${r.checker?.error}`);
    assert.equal(r.checker?.ioSame, true, `${r.file}: I/O types changed (bf16)`);
  }
});
