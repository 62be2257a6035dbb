import type { Command } from 'commander';

export function registerCidCommands(_program: Command): void {}
