/**
 * For the Python tests: the real tritonserver of test/helpers/triton.ts (the one harness the TypeScript suites
 * use, same flags and layout) on the repository named by argv[2], ready, described as one JSON line on stdout
 * (`{ "url" }`), or `{ "skip": why }` when no real Triton is installed. It stops the server when its stdin closes.
 */
import { findTriton, skipWithoutTriton, TritonServer } from '../helpers/triton.js';

const repository = process.argv[2];
if (!repository) throw new Error('usage: triton-harness.ts REPOSITORY');
if (!findTriton()) {
  process.stdout.write(`${JSON.stringify({ skip: skipWithoutTriton() })}\n`);
  process.exit(0);
}
const server = await TritonServer.start({ repository });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await server.close();
  process.exit(0);
});
