// A separate writer process for the object-store tests: adds versions, sets labels, or stops mid-upload to be killed.
// Usage: s3-child.ts '<json task>' (REDIS_URL and the s3rver credentials come from the environment).
import { ModelStore } from '../../src/store/index.js';

type Task =
  | { op: 'add-version'; uri: string; model: string; source: string; key: string }
  | { op: 'labels'; uri: string; model: string; output: string; rounds: number };

const task = JSON.parse(process.argv[2] ?? '{}') as Task;
const store = await ModelStore.open(task.uri);
try {
  const model = await store.getModel(task.model);
  if (task.op === 'add-version') {
    process.stdout.write(`${await model.addVersion(task.source, { publishKey: task.key })}\n`);
  } else {
    for (let i = 0; i < task.rounds; i++) {
      await model.setLabels(task.output, [`label-${i}-a`, `label-${i}-b`], { fileName: `labels_${i}.txt` });
    }
    process.stdout.write('done\n');
  }
} finally {
  await store.close();
}
