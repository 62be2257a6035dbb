import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

const protoDir = path.join(repoRoot, 'proto');

function protoc(args: string[], input: Buffer | string): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('protoc', [`-I${protoDir}`, ...args, path.join(protoDir, 'model_config.proto')], {
    input,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/**
 * The reference implementation's reading of a config: `protoc --encode` then `--decode` of
 * `inference.ModelConfig`, i.e. protobuf's own parser followed by its own canonical printer.
 */
export function protocCanonical(text: string): { ok: true; text: string } | { ok: false; error: string } {
  const enc = protoc(['--encode=inference.ModelConfig'], text);
  if (enc.status !== 0) return { ok: false, error: enc.stderr };
  const dec = protoc(['--decode=inference.ModelConfig'], enc.stdout);
  if (dec.status !== 0) throw new Error(`protoc --decode failed: ${dec.stderr}`);
  return { ok: true, text: dec.stdout.toString('utf8') };
}
