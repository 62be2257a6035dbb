// A separate process for the store tests: writers racing each other, a Triton-like poller, and operations that a
// test SIGKILLs at a named step (MSB_STORE_TEST_PAUSE). Usage: child.ts '<json task>'.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseModelConfig } from '../../src/config/index.js';
import { ModelStore, tritonVersionOf } from '../../src/store/index.js';

type Task =
  | { op: 'add-versions'; root: string; model: string; source: string; count: number; id: string }
  | { op: 'poll'; root: string; stopFile: string; hashes: Record<string, string>; fileName: string }
  | { op: 'crash'; root: string; step: string; source: string };

const task = JSON.parse(process.argv[2] ?? '{}') as Task;

if (task.op === 'add-versions') {
  const store = await ModelStore.open(task.root);
  const model = await store.getModel(task.model);
  const got: number[] = [];
  for (let i = 0; i < task.count; i++) {
    got.push(await model.addVersion(task.source, { publishKey: `${task.id}-${i}` }));
    // A read-modify-write counter: every increment must survive the other writers.
    await model.update((c) => {
      const n = Number(c.parameters?.counter?.stringValue ?? '0');
      c.parameters = { ...c.parameters, counter: { stringValue: String(n + 1) } };
      return c;
    });
  }
  process.stdout.write(`${JSON.stringify(got)}\n`);
} else if (task.op === 'poll') {
  // Reads the repository the way Triton's poller does, as fast as it can, and reports every partial thing it sees:
  // a config.pbtxt that does not parse or names another model, a version directory without its complete model file.
  const verified = new Set<string>();
  const problems: string[] = [];
  let polls = 0;
  let versionsSeen = 0;
  const sha = async (p: string) =>
    createHash('sha256')
      .update(await readFile(p))
      .digest('hex');
  while (!existsSync(task.stopFile)) {
    if (polls++ === 1) process.stderr.write('msb-poller-ready\n');
    for (const m of await readdir(task.root)) {
      const dir = path.join(task.root, m);
      if (!(await stat(dir).catch(() => undefined))?.isDirectory()) continue;
      const text = await readFile(path.join(dir, 'config.pbtxt'), 'utf8').catch(() => undefined);
      if (text === undefined) problems.push(`${m}: no config.pbtxt`);
      else {
        try {
          const c = parseModelConfig(text);
          if (c.name !== m) problems.push(`${m}: config names ${c.name}`);
        } catch (err) {
          problems.push(`${m}: config does not parse: ${(err as Error).message}`);
        }
      }
      for (const v of await readdir(dir).catch(() => [] as string[])) {
        const key = `${m}/${v}`;
        if (tritonVersionOf(v).kind !== 'version' || verified.has(key)) continue;
        const file = path.join(dir, v, task.fileName);
        const h = await sha(file).catch(() => 'missing');
        if (!Object.values(task.hashes).includes(h)) {
          if (problems.length === 0) process.stderr.write('msb-poller-saw-problem\n');
          problems.push(`${key}: ${task.fileName} is ${h === 'missing' ? 'missing' : 'partial'}`);
        } else {
          verified.add(key);
          versionsSeen++;
        }
      }
    }
  }
  process.stdout.write(`${JSON.stringify({ polls, versionsSeen, problems })}\n`);
} else if (task.op === 'crash') {
  const store = await ModelStore.open(task.root);
  const model = await store.getModel('base');
  switch (task.step) {
    case 'model-staged':
    case 'model-renamed':
      await store.createModel('fresh', { platform: 'onnxruntime_onnx', version: { source: task.source } });
      break;
    case 'config-temp-written':
      await model.update((c) => ({ ...c, maxBatchSize: 8 }));
      break;
    case 'labels-written':
      await model.setLabels('out', ['cat', 'dog']);
      break;
    case 'tree-moved-out':
      await model.removeVersion(1);
      break;
    default:
      await model.addVersion(task.source);
  }
  process.stdout.write('finished\n');
}
