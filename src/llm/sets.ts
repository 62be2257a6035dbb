/**
 * `--set KEY=VALUE` options, as `msb add --vllm` (engine arguments) and `msb add --tensorrt-llm` (template keys)
 * take them: each split at its first `=`, its key an identifier. `invalid` makes the error for one that is not.
 */
export function splitSets(sets: readonly string[], invalid: (set: string) => Error): [key: string, value: string][] {
  return sets.map((s) => {
    const eq = s.indexOf('=');
    const key = eq < 0 ? '' : s.slice(0, eq);
    if (!/^[_A-Za-z][_A-Za-z0-9]*$/.test(key)) throw invalid(s);
    return [key, s.slice(eq + 1)];
  });
}
