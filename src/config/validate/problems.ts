import type { Int64 } from '../model-config.js';
import type { ConfigRule } from './rules.js';

/** One thing wrong with a config: where (field path in proto names, e.g. `input[0].dims[1]`), which rule, and why. */
export interface ConfigProblem {
  path: string;
  rule: ConfigRule;
  message: string;
}

/** Collects every problem of one validation run, in the order Triton would meet them. */
export class Problems {
  readonly list: ConfigProblem[] = [];

  add(path: string, rule: ConfigRule, message: string): void {
    this.list.push({ path, rule, message });
  }
}

/** Triton's `WILDCARD_DIM`: a variable-size dimension. */
export const WILDCARD = -1n;

/** An int64 field as an exact bigint (0 when unset, as protobuf reads it). */
export function big(value: Int64 | undefined): bigint {
  return BigInt(value ?? 0);
}

/** `parent.field` with a map key: string keys quoted, integer keys bare, like `priority_queue_policy[2]`. */
export function keyPath(parent: string, key: string, numeric = false): string {
  return `${parent}[${numeric ? key : JSON.stringify(key)}]`;
}

/** A readable name for a tensor in messages: `'name'`, or its position when it has none. */
export function quoted(name: string | undefined): string {
  return `'${name ?? ''}'`;
}
