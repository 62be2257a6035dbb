#!/usr/bin/env node
import { Command } from 'commander';
import { registerCidCommands } from './cid.js';
import { registerConfigCommands } from './config.js';
import { registerInspectCommands } from './inspect.js';
import { registerJobCommands } from './jobs.js';
import { registerOnnxCommands } from './onnx.js';
import { registerStoreCommands } from './store.js';
import { registerTensorrtCommands } from './tensorrt.js';

const program = new Command('msb')
  .description('Model store builder: turns trained models into a ready-to-serve Triton model repository')
  .showHelpAfterError()
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

await program.parseAsync(process.argv);
