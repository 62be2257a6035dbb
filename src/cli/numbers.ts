import { InvalidArgumentError } from 'commander';

/**
 * Numeric options, parsed the same way by every command (`config generate`, `add`, ...): the whole value must be
 * the number (`abc`, `-1`, `1.5`, `8x` are refused with one line naming the option, exit 2, never read as 0 or 1).
 */
export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a non-negative integer');
  }
  return Number(value);
}

export function positiveInt(value: string): number {
  const n = nonNegativeInt(value);
  if (n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
