// The Triton release table (issue 24 step 1) and the checks built on it (steps 2-4): what Triton at a release, and a
// fleet of GPUs, can load. The checks are pure functions over facts the callers read (store validate, publish, config
// check, jobs), so every command applies the same rules.
export * from './check.js';
export * from './errors.js';
export * from './table.js';
