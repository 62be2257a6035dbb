/**
 * The README's "data flows one way" as checked rules over src/'s import graph.
 *
 * The graph is the TypeScript compiler's own: `tsc --explainFiles` (the project's pinned compiler, run on the build
 * config) lists, for every file of the program, each import that brought it in, type-only imports included and
 * resolved exactly as the build resolves them. TypeScript 7 has no JavaScript compiler API, and esbuild's metafile
 * (the other tool already installed) drops type-only imports, which is how config and inspect imported each other.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/paths.js';

/** `src/<part>/…` → part; a file directly in src/ (errors.ts, atomic-file.ts, index.ts) belongs to no part. */
function partOf(file: string): string | undefined {
  const segs = file.split('/');
  return segs.length > 2 ? segs[1] : undefined;
}

/**
 * Modules another part may import besides a part's index.ts: leaves, which import nothing from src/ but other leaves
 * (checked below), so importing one loads no part. Every errors.ts is a leaf too.
 */
const LEAVES: Record<string, string> = {
  'src/errors.ts': 'MsbError and defineErrors',
  'src/atomic-file.ts': 'write-then-rename, for inspect (plan sidecars) and the store',
  'src/inspect/types.ts': "inspect's vocabulary (ModelSignature, TensorSignature), named by config, store, tensorrt",
  'src/config/model-config.ts': 'the generated types of model_config.proto (DataType, ModelConfig)',
  'src/config/textformat/scalars.ts': 'Int64, which model-config.ts names',
  'src/store/names.ts': "Triton's model-name rules, for the cid service and job specs without loading the store",
  'src/redis/url.ts': 'Redis URL parsing and masking, for cid, triton and the CLI without loading ioredis',
  'src/inspect/protowire.ts': 'the protobuf wire reader, shared by inspect and the ONNX rewrite',
  'src/cid/names.ts': "the cid service's ID and name rules, for the CLI's option parsing without loading ioredis",
  'src/api/tokens.ts': 'the tokens file, for `msb token` without loading Fastify',
};
const isLeaf = (file: string) => file in LEAVES || /^src\/.*\/errors\.ts$/.test(file);

/**
 * Known breaks of the rules, each with who removes it. A break listed here that no longer occurs fails the test, so
 * the list only shrinks.
 */
const KNOWN_CYCLES: Record<string, string> = {};
/** Dynamic imports against the flow: they load a part on demand only, so they are listed, not forbidden. */
const UPSTREAM_DYNAMIC: Record<string, string> = {
  'inspect>tensorrt': "a plan without msb's sidecar is read through the TensorRT addon, loaded only then",
};

interface Edge {
  from: string;
  to: string;
  specifier: string;
  dynamic: boolean;
}

async function importGraph(): Promise<{ files: Set<string>; edges: Edge[] }> {
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--noEmit', '--explainFiles'],
    { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 },
  );
  const files = new Set<string>();
  const raw: Omit<Edge, 'dynamic'>[] = [];
  let current = '';
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(' ')) {
      current = line.trim();
      if (current.startsWith('src/')) files.add(current);
      continue;
    }
    const m = /^\s+Imported via '([^']+)' from file '([^']+)'/.exec(line);
    if (m && current.startsWith('src/') && m[2]?.startsWith('src/'))
      raw.push({ from: m[2], to: current, specifier: m[1] as string });
  }
  // tsc does not say whether an import is `import(...)`: an edge is dynamic when its file names the specifier only
  // in `import('…')`, never in a static `from '…'` / `import '…'`.
  const texts = new Map<string, string>();
  for (const f of files) texts.set(f, await readFile(path.join(repoRoot, f), 'utf8'));
  const edges = raw.map((e) => {
    const text = texts.get(e.from) ?? '';
    const quoted = `'${e.specifier}'`;
    const dynamic = text.includes(`import(${quoted})`) && !new RegExp(`(from|import) ${quoted}`).test(text);
    return { ...e, dynamic };
  });
  return { files, edges };
}

const graph = importGraph();

/** Strongly connected components with more than one file (Tarjan), each sorted, as 'a b c'. */
function cycles(nodes: Iterable<string>, edges: [string, string][]): string[] {
  const next = new Map<string, string[]>();
  for (const [a, b] of edges) next.set(a, [...(next.get(a) ?? []), b]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || edges.some(([a, b]) => a === v && b === v)) found.push(scc.sort().join(' '));
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return found.sort();
}

test('the import graph is the whole of src/', async (t) => {
  const { files, edges } = await graph;
  const parts = new Set([...files].map(partOf).filter(Boolean));
  const partEdges = new Set(
    edges
      .filter((e) => partOf(e.from) && partOf(e.to) && partOf(e.from) !== partOf(e.to) && !isLeaf(e.to))
      .map((e) => `${partOf(e.from)}>${partOf(e.to)}`),
  );
  t.diagnostic(
    `${files.size} files, ${edges.length} imports (${edges.filter((e) => e.dynamic).length} dynamic), ${parts.size} parts, ${partEdges.size} part dependencies: ${[...partEdges].sort().join(' ')}`,
  );
  // A change in tsc's report would leave the rules below checking nothing: it must still name every file.
  assert.ok(files.size > 100, `files: ${files.size}`);
  assert.ok(edges.length > 300, `edges: ${edges.length}`);
  assert.ok(
    edges.some((e) => e.from === 'src/config/generate.ts' && e.to === 'src/inspect/types.ts'),
    'type-only imports are edges',
  );
  assert.ok(
    edges.some((e) => e.from === 'src/inspect/plan.ts' && e.to === 'src/tensorrt/index.ts' && e.dynamic),
    'dynamic imports are edges, marked dynamic',
  );
});

test('no import cycle between files (static imports, type-only ones included)', async () => {
  const { files, edges } = await graph;
  const found = cycles(
    files,
    edges.filter((e) => !e.dynamic).map((e) => [e.from, e.to]),
  );
  assert.deepEqual(
    found.filter((c) => !(c in KNOWN_CYCLES)),
    [],
  );
  for (const known of Object.keys(KNOWN_CYCLES))
    assert.ok(found.includes(known), `${known} is no longer a cycle: remove it from KNOWN_CYCLES`);
});

test("a part imports another part's index.ts or a leaf, never its internals", async () => {
  const { edges } = await graph;
  const bad = edges
    .filter((e) => {
      const from = partOf(e.from);
      const to = partOf(e.to);
      return to !== undefined && from !== to && !e.to.endsWith(`src/${to}/index.ts`) && !isLeaf(e.to);
    })
    .map((e) => `${e.from} -> ${e.to}`);
  assert.deepEqual([...new Set(bad)].sort(), []);
});

test('a leaf imports only leaves', async () => {
  const { files, edges } = await graph;
  for (const leaf of Object.keys(LEAVES)) assert.ok(files.has(leaf), `${leaf} exists`);
  const bad = edges.filter((e) => isLeaf(e.from) && !isLeaf(e.to)).map((e) => `${e.from} -> ${e.to}`);
  assert.deepEqual(bad, []);
});

test('parts depend on each other one way: the part graph has no cycle', async () => {
  const { edges } = await graph;
  const partEdges = new Map<string, boolean>(); // 'a>b' → every import behind it is dynamic
  for (const e of edges) {
    const from = partOf(e.from);
    const to = partOf(e.to);
    if (!from || !to || from === to || isLeaf(e.to)) continue;
    const key = `${from}>${to}`;
    partEdges.set(key, (partEdges.get(key) ?? true) && e.dynamic);
  }
  const upstream = [...partEdges].filter(([, dynamic]) => dynamic).map(([key]) => key);
  for (const key of Object.keys(UPSTREAM_DYNAMIC))
    assert.ok(upstream.includes(key), `${key} is no longer a dynamic import: remove it from UPSTREAM_DYNAMIC`);
  const parts = new Set([...partEdges.keys()].flatMap((k) => k.split('>')));
  const checked = [...partEdges.keys()]
    .filter((k) => !(k in UPSTREAM_DYNAMIC))
    .map((k) => k.split('>') as [string, string]);
  assert.deepEqual(cycles(parts, checked), []);
});

test('one list of public entry points: package.json exports, src/index.ts and the README agree', async () => {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as {
    exports: Record<string, { types: string; default: string } | string>;
  };
  const exported = Object.keys(pkg.exports)
    .filter((k) => k !== '.' && k !== './package.json')
    .map((k) => k.slice(2))
    .sort();
  for (const part of exported) {
    assert.deepEqual(pkg.exports[`./${part}`], {
      types: `./dist/${part}/index.d.ts`,
      default: `./dist/${part}/index.js`,
    });
  }
  const index = await readFile(path.join(repoRoot, 'src', 'index.ts'), 'utf8');
  const namespaces = [...index.matchAll(/^export \* as (\w+) from '\.\/(\w+)\/index\.js';$/gm)].map((m) => {
    assert.equal(m[1], m[2], 'each namespace is named after its part');
    return m[2] as string;
  });
  assert.deepEqual(namespaces.sort(), exported);
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const named = [
    ...new Set([...readme.matchAll(/`model-store-builder\/([a-z-]+)`/g)].map((m) => m[1] as string)),
  ].sort();
  assert.deepEqual(named, exported);
  // Every part with an index.ts is public, except the command line itself and the manifests renderer behind
  // `msb deploy` (the CLI's, not a library entry point).
  const { files } = await graph;
  const parts = [...files].filter((f) => /^src\/[a-z-]+\/index\.ts$/.test(f)).map((f) => partOf(f) as string);
  assert.deepEqual(parts.filter((p) => !exported.includes(p)).sort(), ['deploy']);
});
