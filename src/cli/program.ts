import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerCidCommands } from './cid.js';
import { usageErrorsOnOneLine } from './common.js';
import { registerConfigCommands } from './config.js';
import { registerInspectCommands } from './inspect.js';
import { registerJobCommands } from './jobs.js';
import { registerOnnxCommands } from './onnx.js';
import { registerServeCommands } from './serve.js';
import { registerStoreCommands } from './store.js';
import { registerTensorrtCommands } from './tensorrt.js';

// Start-up time: the register* modules name commands and options only (commander, node built-ins, common.ts);
// each action imports the library modules it runs when it runs. A new command keeps to that: no library or
// heavy package (bullmq, ioredis, zod, protobufjs, aws-sdk, fastify, onnxruntime) at the top level of its file.
// `npm run bench:cli-startup` measures it (docs/benchmarks.md).

/** The whole `msb` command tree, unparsed: main.ts runs it, test/cli-help.test.ts walks it. */
export function buildProgram(): Command {
  // src/cli/program.ts and dist/cli/program.js both sit two levels below package.json.
  const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
  const program = new Command('msb')
    .description('Model store builder: turns trained models into a ready-to-serve Triton model repository')
    .version(version, '-V, --version', 'print the version of msb')
    // Program options only before the command: `msb rm … --version 3` is rm's own --version.
    .enablePositionalOptions()
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  registerConfigCommands(program);
  registerInspectCommands(program);
  registerStoreCommands(program);
  registerTensorrtCommands(program);
  registerCidCommands(program);
  registerJobCommands(program);
  registerOnnxCommands(program);
  registerServeCommands(program);
  usageErrorsOnOneLine(program);
  return program;
}
