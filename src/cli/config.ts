import type { Command } from 'commander';

/** `msb config …`: the config group; each responsibility attaches its own subcommands. */
export function registerConfigCommands(program: Command): void {
  program.command('config').description('read, check, format, convert and generate Triton config.pbtxt files');
}
