import type { Command } from 'commander';
import type { ModelSignature, TensorSignature } from '../inspect/index.js';
import { action, printJson, printTable } from './common.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** The options shared by `msb inspect` and `msb config generate` that state a model's interface. */
export interface SignatureCliOptions {
  input: string[];
  output: string[];
  signature?: string;
}

/** Adds `--input`, `--output` (repeatable, NAME:TYPE:DIMS) and `--signature` to a command. */
export function withSignatureOptions(cmd: Command): Command {
  return cmd
    .option(
      '--input <NAME:TYPE:DIMS>',
      'an input, e.g. images:FP32:-1,3,224,224 (full shape, -1 = dynamic; repeat per input)',
      collect,
      [],
    )
    .option('--output <NAME:TYPE:DIMS>', 'an output, same syntax (repeat per output)', collect, [])
    .option('--signature <NAME>', 'SavedModel SignatureDef to read (default serving_default)');
}

/** Inspects TARGET with the tensors and signature the user stated. */
export async function inspectWithOptions(target: string, opts: SignatureCliOptions): Promise<ModelSignature> {
  if (/^(s3|gs):\/\//i.test(target)) {
    // An object in a store: read in place by ranged GETs (the store module loads the S3 client on demand).
    const { inspectObject } = await import('../store/index.js');
    return (await inspectObject(target)).signature;
  }
  const { inspectModel, parseTensorOption } = await import('../inspect/index.js');
  const inputs = opts.input.map(parseTensorOption);
  const outputs = opts.output.map(parseTensorOption);
  return inspectModel(target, {
    ...(inputs.length ? { inputs } : {}),
    ...(outputs.length ? { outputs } : {}),
    ...(opts.signature !== undefined ? { signatureName: opts.signature } : {}),
  });
}

/** The facts a signature error carries about the file (a plan's header, an engine's container), if any. */
function fileFacts(err: unknown): { format: string; metadata: Record<string, string> } | undefined {
  const d = (err as { code?: string; details?: Record<string, unknown> }).details;
  if ((err as { code?: string }).code !== 'MSB_INSPECT_SIGNATURE_REQUIRED' || typeof d?.format !== 'string') return;
  return { format: d.format, metadata: (d.metadata ?? {}) as Record<string, string> };
}

const showDims = (t: TensorSignature) =>
  `[${t.dims.map((d, i) => (d === -1 && t.dimParams?.[i] ? t.dimParams[i] : String(d))).join(', ')}]`;

export function registerInspectCommands(program: Command): void {
  withSignatureOptions(
    program
      .command('inspect')
      .description("show a model's format, Triton platform/backend, inputs, outputs and metadata (no GPU needed)")
      .argument('<model>', 'model file or directory (ONNX, TensorRT plan, SavedModel, GraphDef, TorchScript, ...)')
      .option('--json', 'print the signature as JSON'),
  ).action(
    action(async (target: string, opts: SignatureCliOptions & { json?: boolean }) => {
      let sig: ModelSignature;
      try {
        sig = await inspectWithOptions(target, opts);
      } catch (err) {
        const facts = opts.input.length || opts.output.length ? undefined : fileFacts(err);
        if (!facts) throw err;
        // A plan (or Ultralytics engine) with no tensors asked for: what the file says is the answer, not an error;
        // its tensors are needed only to publish it or generate its config, which still refuse without them.
        const note = `tensors: ${(err as Error).message.replace(/^[^:]*: /, '')}`;
        if (opts.json) printJson({ ...facts, inputs: null, outputs: null, note });
        else {
          printTable(
            ['property', 'value'],
            [
              ['format', facts.format],
              ['platform', facts.format],
              ['backend', 'tensorrt'],
              ...Object.entries(facts.metadata),
            ],
          );
          process.stdout.write(`${note}\n`);
        }
        return;
      }
      if (opts.json) {
        printJson(sig);
        return;
      }
      const facts: [string, string][] = [
        ['format', sig.format],
        ['platform', sig.platform ?? ''],
        ['backend', sig.backend],
        ['batch dimension', sig.batchDim ? 'yes' : 'no'],
      ];
      if (sig.maxBatchSize !== undefined) facts.push(['max batch size', String(sig.maxBatchSize)]);
      for (const [k, v] of Object.entries(sig.metadata)) facts.push([k, v]);
      printTable(['property', 'value'], facts);
      printTable(
        ['io', 'name', 'type', 'dims'],
        [
          ...sig.inputs.map((t) => ['input', t.name, String(t.dataType), showDims(t)]),
          ...sig.outputs.map((t) => ['output', t.name, String(t.dataType), showDims(t)]),
        ],
      );
    }),
  );
}
