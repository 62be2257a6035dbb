/**
 * Text-format throughput: parse + canonical print of every config in ../shared/testdata/triton-configs, against
 * the in-process baseline of protobufjs decoding + encoding the same messages in binary (bytes from protoc), in the
 * same run. Usage: npm run bench:config [-- --seconds N]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { modelConfigProtoPath, parseModelConfig, printModelConfig } from '../src/config/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpus = path.resolve(root, '..', 'shared', 'testdata', 'triton-configs');
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.pbtxt') ? [p] : [];
  });
}

const texts = files(corpus).map((f) => readFileSync(f, 'utf8'));
const binaries = texts.map((t) => {
  const r = spawnSync(
    'protoc',
    [`-I${path.dirname(modelConfigProtoPath)}`, '--encode=inference.ModelConfig', modelConfigProtoPath],
    { input: t },
  );
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout;
});
const T = protobuf.loadSync(modelConfigProtoPath).lookupType('inference.ModelConfig');

function rate(name: string, fn: (i: number) => void): number {
  for (let i = 0; i < texts.length; i++) fn(i); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < texts.length; i++) fn(i);
    n += texts.length;
  }
  const perSecond = n / (Number(process.hrtime.bigint() - start) / 1e9);
  console.log(`${name.padEnd(44)} ${perSecond.toFixed(0).padStart(8)} configs/s`);
  return perSecond;
}

console.log(`${texts.length} configs, ${(texts.reduce((a, t) => a + t.length, 0) / 1024).toFixed(0)} KiB of text`);
const ours = rate('msb text format: parse + print', (i) => {
  printModelConfig(parseModelConfig(texts[i] as string));
});
const baseline = rate('baseline protobufjs binary: decode + encode', (i) => {
  T.encode(T.decode(binaries[i] as Uint8Array)).finish();
});
console.log(`ratio msb/baseline: ${(ours / baseline).toFixed(2)}`);
