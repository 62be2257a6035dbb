import type { Command } from 'commander';

export function registerTensorrtCommands(_program: Command): void {}
