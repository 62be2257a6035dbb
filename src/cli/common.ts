import { createRequire } from 'node:module';
import { type Command, CommanderError } from 'commander';
import { isMsbError } from '../errors.js';
import { CliError } from './errors.js';

// Start-up time: every module here is loaded by `msb --help`. Command modules import the library (and its
// dependencies: protobufjs, zod, bullmq, ioredis, ...) inside their actions, so a command loads only what it runs.
const require = createRequire(import.meta.url);

/** Exit status for a command that ran and found problems (validation failures, `--check` mismatches). */
export const EXIT_PROBLEMS = 1;
/** Exit status for a command that could not run (bad input, missing file, unavailable service). */
export const EXIT_ERROR = 2;

/** Exit status for a bug in msb (sysexits' EX_SOFTWARE): an error that is not one of msb's typed errors. */
export const EXIT_INTERNAL = 70;

/**
 * The one place an error becomes output, for every command and for errors thrown while commander parses arguments
 * (an option's parser throwing a StoreError): an MsbError is one line on stderr (`msb: CODE: message`, exit 2);
 * commander's own usage errors were already printed by commander (exit 2); anything else is a bug in msb, still one
 * line (exit 70), with the stack only when MSB_DEBUG is set. No input ever prints a stack trace.
 * Returns the exit status.
 */
export function reportError(err: unknown): number {
  if (isMsbError(err)) {
    if (jsonContract()) writeJsonError(err.code, err.message, err.retryable, err.details);
    else process.stderr.write(`msb: ${err.code}: ${err.message}\n`);
    return EXIT_ERROR;
  }
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_ERROR;
  const message = err instanceof Error ? err.message : String(err);
  if (jsonContract()) {
    writeJsonError('MSB_INTERNAL', `${message} (a bug in msb)`, false, {});
    return EXIT_INTERNAL;
  }
  process.stderr.write(`msb: MSB_INTERNAL: ${message} (a bug in msb; MSB_DEBUG=1 prints the stack)\n`);
  if (process.env.MSB_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return EXIT_INTERNAL;
}

/**
 * The version of the `--json` contract (docs/cli-json.md) this msb speaks. A caller that sets
 * `MSB_CLI_JSON_CONTRACT=<version>` (the Python package does) gets its errors as one JSON line on stderr, and a
 * version msb does not speak is refused before the command runs (`MSB_CLI_CONTRACT`), so a changed shape is never
 * misread.
 */
export const CLI_JSON_CONTRACT = 1;

function jsonContract(): boolean {
  return process.env.MSB_CLI_JSON_CONTRACT !== undefined && process.env.MSB_CLI_JSON_CONTRACT !== '';
}

function writeJsonError(code: string, message: string, retryable: boolean, details: Readonly<Record<string, unknown>>) {
  const error = { code, message, retryable, details };
  process.stderr.write(
    `${JSON.stringify({ contract: CLI_JSON_CONTRACT, error }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );
}

function checkJsonContract(): void {
  const asked = process.env.MSB_CLI_JSON_CONTRACT;
  if (asked && asked !== String(CLI_JSON_CONTRACT)) {
    throw new CliError(
      'MSB_CLI_CONTRACT',
      `MSB_CLI_JSON_CONTRACT=${asked}: this msb speaks --json contract ${CLI_JSON_CONTRACT} (docs/cli-json.md)`,
      { asked, supported: [CLI_JSON_CONTRACT] },
    );
  }
}

/** Wraps a commander action: whatever it throws is reported by reportError and sets the exit status. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      checkJsonContract();
      await fn(...args);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}

/**
 * `--redis-timeout <seconds>` for the commands that talk to Redis once and exit: how long Redis may be unreachable
 * before the command fails with MSB_REDIS_UNREACHABLE. The value is in milliseconds for the library.
 */
export function withRedisTimeout(cmd: Command): Command {
  return cmd.option(
    '--redis-timeout <seconds>',
    'give up after Redis has been unreachable this long (default: $MSB_REDIS_TIMEOUT_MS milliseconds, else 5 s)',
    (text: string) => {
      if (!/^\d+(\.\d+)?$/.test(text) || Number(text) <= 0) {
        throw new CliError('MSB_CLI_ARGUMENT', `--redis-timeout takes a number of seconds > 0, got '${text}'`);
      }
      return Math.round(Number(text) * 1000);
    },
  );
}

/** JSON for `--json`: bigint as decimal string, stable two-space indentation. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

/** A human table; plain tab-separated lines when stdout is not a TTY, so output stays greppable. */
export function printTable(head: string[], rows: (string | number)[][]): void {
  if (!process.stdout.isTTY) {
    for (const row of [head, ...rows]) process.stdout.write(`${row.join('\t')}\n`);
    return;
  }
  // cli-table3 only for a terminal: piped output (scripts, tests) never loads it.
  const Table = require('cli-table3') as typeof import('cli-table3');
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) table.push(row.map(String));
  process.stdout.write(`${table.toString()}\n`);
}

/** The command's name as typed: `msb jobs show`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Commander's usage errors (unknown option or command, missing argument) become the contract's one line,
 * `msb: MSB_CLI_USAGE: unknown option '--bogus' (see msb inspect --help)`, on every command of the tree, instead of the
 * message followed by pages of help. Call once, after every command is registered.
 */
export function usageErrorsOnOneLine(cmd: Command): void {
  const hint = `see ${commandPath(cmd)} --help`;
  cmd.showHelpAfterError(false).configureOutput({
    outputError: (message, write) => write(`msb: MSB_CLI_USAGE: ${message.trim().replace(/^error: /, '')} (${hint})\n`),
  });
  for (const sub of cmd.commands) usageErrorsOnOneLine(sub);
}
