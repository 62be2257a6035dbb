import type { Command } from 'commander';
import { registerConfigCheckCommands } from './config-check.js';
import { registerConfigCodecCommands } from './config-codec.js';
import { registerConfigGenerateCommands } from './config-generate.js';
import { registerConfigStoreCommands } from './config-store.js';

/** `msb config …`: the config group; each responsibility attaches its own subcommands. */
export function registerConfigCommands(program: Command): Command {
  const config = program
    .command('config')
    .description('read, check, format, convert and generate Triton config.pbtxt files');
  registerConfigCodecCommands(config);
  registerConfigCheckCommands(config);
  registerConfigGenerateCommands(config);
  registerConfigStoreCommands(config);
  return config;
}
