import type { Command } from 'commander';
import { action, EXIT_PROBLEMS, printJson, printTable } from './common.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** `--shape NAME:D1,D2,...` (repeatable) → dims by input name. */
function parseShapes(values: string[]): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const v of values) {
    const m = /^(.+):(\d+(?:,\d+)*)$/.exec(v);
    if (!m) throw new CliOptionError(`--shape ${v}: expected NAME:D1,D2,... (e.g. input:1,3,224,224)`);
    shapes[m[1] as string] = (m[2] as string).split(',').map(Number);
  }
  return shapes;
}

class CliOptionError extends Error {}

function number(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new CliOptionError(`--${name} ${v}: not a number`);
    return n;
  };
}

const fmt = (x: number) => (x === 0 ? '0' : x.toExponential(2));

export function registerOnnxCommands(program: Command): void {
  const onnx = program
    .command('onnx')
    .description('ONNX numerics: compare models with ONNX Runtime, convert precision');

  onnx
    .command('compare')
    .description(
      'run two ONNX models on the same inputs (ONNX Runtime, CPU) and compare every output; exit 1 when an element ' +
        'exceeds both --atol and --rtol, or is NaN in only one model',
    )
    .argument('<a>', 'reference model (e.g. the FP32 original)')
    .argument('<b>', 'model to check (e.g. the converted one); relative error is taken against A')
    .option('--atol <x>', 'absolute tolerance', '1e-3')
    .option('--rtol <x>', 'relative tolerance', '1e-3')
    .option('--seed <n>', 'seed of the uniform [0, 1) random inputs', '1')
    .option('--inputs <file>', 'JSON inputs instead of random ones: {"name": {"dims": [...], "data": [...]}} or a list')
    .option(
      '--shape <NAME:DIMS>',
      'dims of a dynamic input, e.g. x:1,3,224,224 (repeat per input; default 1)',
      collect,
      [],
    )
    .option('--json', 'print the report as JSON')
    .action(
      action(
        async (
          a: string,
          b: string,
          opts: { atol: string; rtol: string; seed: string; inputs?: string; shape: string[]; json?: boolean },
        ) => {
          const { compareModels, OnnxError } = await import('../onnx/index.js');
          let parsed: { atol: number; rtol: number; seed: number; shapes: Record<string, number[]> };
          try {
            parsed = {
              atol: number('atol')(opts.atol),
              rtol: number('rtol')(opts.rtol),
              seed: number('seed')(opts.seed),
              shapes: parseShapes(opts.shape),
            };
          } catch (err) {
            if (err instanceof CliOptionError) throw new OnnxError('MSB_ONNX_BAD_OPTION', err.message, {});
            throw err;
          }
          const report = await compareModels(a, b, {
            ...parsed,
            ...(opts.inputs ? { inputsFile: opts.inputs } : {}),
          });
          if (opts.json) printJson(report);
          else {
            printTable(
              ['output', 'dims', 'max abs err', 'max rel err', 'failing', 'result'],
              report.outputs.map((o) => [
                o.name,
                `[${o.dims.join(', ')}]`,
                fmt(o.maxAbsError),
                fmt(o.maxRelError),
                `${o.failing}/${o.elements} (${(o.failingShare * 100).toFixed(2)}%)`,
                o.pass ? 'pass' : `FAIL${o.problem ? `: ${o.problem}` : ''}`,
              ]),
            );
            process.stdout.write(
              `${report.pass ? 'PASS' : 'FAIL'}: atol ${report.atol}, rtol ${report.rtol}, seed ${report.seed}, ${report.samples} sample(s)\n`,
            );
          }
          if (!report.pass) process.exitCode = EXIT_PROBLEMS;
        },
      ),
    );

  onnx
    .command('convert')
    .description(
      'convert an FP32 ONNX model to mixed FP16/BF16 precision, node by node as NVIDIA AutoCast decides (for ' +
        'TensorRT 11, whose networks are strongly typed); Casts at every precision boundary',
    )
    .argument('<in>', 'FP32 ONNX model')
    .requiredOption('-o, --output <file>', 'converted model to write (external data, if any, goes to FILE.data)')
    .requiredOption('--precision <p>', 'fp16 or bf16')
    .option('--keep-io-types', "keep the model's input and output types (Casts at the boundary)")
    .option('--exclude-op <type>', 'keep every node of this op type in FP32 (repeatable)', collect, [])
    .option('--exclude-node <name>', 'keep this node in FP32 (repeatable)', collect, [])
    .option('--calibration <file>', 'JSON input samples for the data-range measurement (default: seeded random)')
    .option('--data-max <x>', 'activations beyond this magnitude keep their node FP32', '512')
    .option('--init-max <x>', 'initializers beyond this magnitude keep their node FP32', '65504')
    .option('--no-calibrate', 'skip the ONNX Runtime measurement of activations (the data-range rule)')
    .option('--seed <n>', 'seed of the random calibration inputs', '1')
    .option('--shape <NAME:DIMS>', 'dims of a dynamic input during calibration (repeatable; default 1)', collect, [])
    .option('--json', 'print the report as JSON')
    .action(
      action(
        async (
          input: string,
          opts: {
            output: string;
            precision: string;
            keepIoTypes?: boolean;
            excludeOp: string[];
            excludeNode: string[];
            calibration?: string;
            dataMax: string;
            initMax: string;
            calibrate: boolean;
            seed: string;
            shape: string[];
            json?: boolean;
          },
        ) => {
          const { convertModel, OnnxError } = await import('../onnx/index.js');
          let numbers: { dataMax: number; initMax: number; seed: number; shapes: Record<string, number[]> };
          try {
            numbers = {
              dataMax: number('data-max')(opts.dataMax),
              initMax: number('init-max')(opts.initMax),
              seed: number('seed')(opts.seed),
              shapes: parseShapes(opts.shape),
            };
          } catch (err) {
            if (err instanceof CliOptionError) throw new OnnxError('MSB_ONNX_BAD_OPTION', err.message, {});
            throw err;
          }
          if (opts.precision !== 'fp16' && opts.precision !== 'bf16') {
            throw new OnnxError('MSB_ONNX_BAD_OPTION', `--precision ${opts.precision}: expected fp16 or bf16`, {});
          }
          const report = await convertModel(input, opts.output, {
            precision: opts.precision,
            keepIoTypes: opts.keepIoTypes === true,
            excludeOps: opts.excludeOp,
            excludeNodes: opts.excludeNode,
            calibrate: opts.calibrate,
            ...numbers,
            ...(opts.calibration ? { calibrationFile: opts.calibration } : {}),
          });
          if (opts.json) {
            printJson(report);
            return;
          }
          const byReason = new Map<string, number>();
          for (const k of report.kept) byReason.set(k.reason, (byReason.get(k.reason) ?? 0) + 1);
          printTable(
            ['property', 'value'],
            [
              ['output', report.output],
              ['precision', report.precision],
              ['io types', report.keepIoTypes ? 'kept' : 'converted'],
              [
                'nodes in low precision',
                `${report.lowNodes}/${report.floatNodes} (${(report.lowShare * 100).toFixed(1)}%)`,
              ],
              ...[...byReason].map(([r, n]) => [`kept FP32: ${r}`, String(n)]),
              ['casts inserted', String(report.castsInserted)],
              ['initializers converted', String(report.initializersConverted)],
              [
                'calibration',
                'skipped' in report.calibration
                  ? `skipped (${report.calibration.skipped})`
                  : `${report.calibration.samples} ${report.calibration.source} sample(s)`,
              ],
              ...(report.externalData ? [['external data', report.externalData]] : []),
            ],
          );
        },
      ),
    );
}
