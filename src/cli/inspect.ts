import type { Command } from 'commander';

export function registerInspectCommands(_program: Command): void {}
