import { createRequire } from 'node:module';
import { Command } from 'commander';
import { usageErrorsOnOneLine } from './common.js';

// Start-up time: the register* modules name commands and options only (commander, node built-ins, common.ts);
// each action imports the library modules it runs when it runs. A new command keeps to that: no library or
// heavy package (bullmq, ioredis, zod, protobufjs, aws-sdk, fastify, onnxruntime) at the top level of its file.
// `npm run bench:cli-startup` measures it (docs/benchmarks.md).

type Register = (program: Command) => void;

/**
 * Each command module and the top-level commands it registers, in the order `msb --help` lists them. A command line
 * that names one of them loads that module alone (`msb inspect` does not read the other fourteen); `msb --help`, an
 * unknown command or none loads them all. test/cli-contract.test.ts checks this table against the tree.
 */
export const COMMAND_MODULES: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ['config'], load: async () => (await import('./config.js')).registerConfigCommands },
  { names: ['inspect'], load: async () => (await import('./inspect.js')).registerInspectCommands },
  {
    names: ['init', 'ls', 'show', 'rm', 'version', 'labels', 'validate', 'add'],
    load: async () => (await import('./store.js')).registerStoreCommands,
  },
  { names: ['create'], load: async () => (await import('./create.js')).registerCreateCommand },
  { names: ['tensorrt', 'devices'], load: async () => (await import('./tensorrt.js')).registerTensorrtCommands },
  { names: ['cid'], load: async () => (await import('./cid.js')).registerCidCommands },
  { names: ['worker', 'enqueue', 'jobs', 'demo'], load: async () => (await import('./jobs.js')).registerJobCommands },
  { names: ['onnx'], load: async () => (await import('./onnx.js')).registerOnnxCommands },
  { names: ['serve', 'token'], load: async () => (await import('./serve.js')).registerServeCommands },
];

/**
 * The `msb` command tree, unparsed: main.ts runs it, the tests walk it. Given the command line, only the module of
 * the command it names is loaded; without one, every command is there.
 */
export async function buildProgram(argv?: string[]): Promise<Command> {
  // src/cli/program.ts and dist/cli/program.js both sit two levels below package.json.
  const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
  const program = new Command('msb')
    .description('Model store builder: turns trained models into a ready-to-serve Triton model repository')
    .version(version, '-V, --version', 'print the version of msb')
    // Program options only before the command: `msb rm … --version 3` is rm's own --version.
    .enablePositionalOptions()
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  // The program's own options are all flags, so the first word that is not one is the command.
  const named = argv?.slice(2).find((a) => !a.startsWith('-'));
  const only = COMMAND_MODULES.find((m) => named !== undefined && m.names.includes(named));
  for (const m of only ? [only] : COMMAND_MODULES) (await m.load())(program);
  usageErrorsOnOneLine(program);
  return program;
}
