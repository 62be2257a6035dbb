/**
 * For the Python remote tests: the TypeScript API tests' harness (test/api/harness.ts) as a process — a real
 * redis-server on a free port, a real worker with the TensorRT builder double (test/jobs/fake-builder.ts: no
 * TensorRT or GPU here), and a real `msb serve` — described as one JSON line on stdout. It stops everything when
 * its stdin closes (the test ended, or died).
 */
import { startHarness } from '../api/harness.js';

const steps = Number(process.argv[2] ?? 4);
const h = await startHarness({ builderSteps: steps });
process.stdout.write(`${JSON.stringify({ url: h.server.url, store: h.store, tokens: h.tokens })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await h.close();
  process.exit(0);
});
