import { execFileSync, spawnSync } from 'node:child_process';

/**
 * Debian's python3, which has the reference `onnx` package (python3-onnx). Another python3 first on PATH (pyenv)
 * usually lacks it, so the system interpreter is preferred; MSB_PYTHON overrides.
 */
export const python = process.env.MSB_PYTHON ?? '/usr/bin/python3';

/** Runs a Python script with args; returns stdout; throws with stderr on failure. */
export function runPython(script: string, args: string[] = [], options: { timeoutMs?: number } = {}): string {
  const r = spawnSync(python, ['-c', script, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: options.timeoutMs ?? 120_000,
  });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function pythonHasOnnx(): boolean {
  try {
    execFileSync(python, ['-c', 'import onnx'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
