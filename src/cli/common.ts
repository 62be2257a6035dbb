import Table from 'cli-table3';
import { isMsbError } from '../errors.js';

/** Exit status for a command that ran and found problems (validation failures, `--check` mismatches). */
export const EXIT_PROBLEMS = 1;
/** Exit status for a command that could not run (bad input, missing file, unavailable service). */
export const EXIT_ERROR = 2;

/**
 * Wraps a commander action: an MsbError becomes one line on stderr (`msb: CODE: message`) and exit status 2;
 * anything else is a bug and keeps its stack.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (isMsbError(err)) {
        process.stderr.write(`msb: ${err.code}: ${err.message}\n`);
        process.exitCode = EXIT_ERROR;
        return;
      }
      throw err;
    }
  };
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
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) table.push(row.map(String));
  process.stdout.write(`${table.toString()}\n`);
}
