import type { Command } from 'commander';
import { action, EXIT_PROBLEMS, printJson, printTable } from './common.js';

const trt = () => import('../tensorrt/index.js');

/** `msb tensorrt status|inspect` and `msb devices`: what the native addon sees. */
export function registerTensorrtCommands(program: Command): void {
  const group = program.command('tensorrt').description('the TensorRT builder behind the native addon');

  group
    .command('status')
    .description('whether TensorRT can be used here, its version and what it supports (exit 1 when unavailable)')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const status = (await trt()).tensorrt.status();
        if (opts.json) {
          printJson(status);
        } else {
          const lines = [
            `available: ${status.available ? 'yes' : 'no'}`,
            status.version && `version: ${status.version} (${status.library})`,
            `compiled against: ${status.compiledAgainst ?? 'no TensorRT headers'}`,
            status.capabilities &&
              `precision flags: ${status.capabilities.precision ? 'yes' : 'no (strongly typed networks only)'}`,
            status.reason && `reason: ${status.reason}`,
          ];
          process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
        }
        if (!status.available) process.exitCode = EXIT_PROBLEMS;
      }),
    );

  group
    .command('inspect')
    .description('read a TensorRT plan: inputs, outputs, profiles (needs TensorRT and a GPU)')
    .argument('<plan>', 'plan file')
    .option('--json', 'print JSON')
    .action(
      action(async (plan: string, opts: { json?: boolean }) => {
        const sig = await (await trt()).inspectEngine(plan);
        if (opts.json) {
          printJson(sig);
          return;
        }
        const rows = [...sig.inputs, ...sig.outputs].map((t) => [
          sig.inputs.includes(t) ? 'input' : 'output',
          t.name,
          t.dataType,
          `[${t.dims.join(',')}]`,
          t.profiles.map((p) => `[${p.min.join(',')}]..[${p.max.join(',')}]`).join(' '),
        ]);
        printTable(['mode', 'name', 'type', 'dims', 'profiles (min..max)'], rows);
      }),
    );

  program
    .command('devices')
    .description('CUDA devices seen through the driver (exit 1 when there are none)')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const result = (await trt()).cuda.devices();
        if (opts.json) {
          printJson(result);
        } else if (result.devices.length > 0) {
          printTable(
            ['index', 'name', 'compute capability', 'memory (MiB)', 'uuid'],
            result.devices.map((d) => [
              d.index,
              d.name,
              d.computeCapability,
              Math.round(d.totalMemory / 2 ** 20),
              d.uuid,
            ]),
          );
        } else {
          process.stdout.write(`no CUDA devices: ${result.reason ?? 'unknown reason'}\n`);
        }
        if (result.devices.length === 0) process.exitCode = EXIT_PROBLEMS;
      }),
    );
}
