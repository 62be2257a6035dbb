#!/usr/bin/env node
import { Command } from 'commander';
import { registerCidCommands } from './cid.js';
import { reportError } from './common.js';
import { registerConfigCommands } from './config.js';
import { registerCreateCommand } from './create.js';
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

// An error nothing caught (an event emitter's, a rejected promise nobody awaited) is still one line, not a stack.
const fatal = (err: unknown) => {
  process.exitCode = reportError(err);
  process.exit();
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

const program = new Command('msb')
  .description('Model store builder: turns trained models into a ready-to-serve Triton model repository')
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

registerConfigCommands(program);
registerInspectCommands(program);
registerStoreCommands(program);
registerCreateCommand(program);
registerTensorrtCommands(program);
registerCidCommands(program);
registerJobCommands(program);
registerOnnxCommands(program);
registerServeCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Thrown outside an action: an option or argument parser (`--version ../..`) runs inside commander's parse.
  process.exitCode = reportError(err);
}
