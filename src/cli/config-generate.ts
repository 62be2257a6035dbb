import path from 'node:path';
import { type Command, Option } from 'commander';
import type { ModelSignature } from '../inspect/index.js';
import { action } from './common.js';
import { readConfigFile } from './config-codec.js';
import { CliError } from './errors.js';
import { inspectWithOptions, type SignatureCliOptions, withSignatureOptions } from './inspect.js';
import { nonNegativeInt, positiveInt } from './numbers.js';

interface GenerateCliOptions extends SignatureCliOptions {
  name?: string;
  maxBatchSize?: number;
  concurrency?: number;
  kind?: 'KIND_GPU' | 'KIND_CPU' | 'KIND_AUTO';
  labels?: string;
  dynamicBatching: boolean;
  partial?: string;
}

/** `msb config generate`: a model file (+ options, + an optional partial config) → config.pbtxt on stdout. */
export function registerConfigGenerateCommands(config: Command): void {
  withSignatureOptions(
    config
      .command('generate')
      .description('write the config.pbtxt Triton needs for a model file, completed as Triton auto-completes it')
      .argument('[model]', 'model file or directory (none for an ensemble: give --partial with platform "ensemble")')
      .option('--name <name>', 'model name (default: the partial config name, else the file name without extension)')
      .option('--max-batch-size <n>', 'max_batch_size (default: from the model)', nonNegativeInt)
      .option('--concurrency <n>', 'instances per device (an instance_group with this count)', positiveInt)
      .addOption(
        new Option('--kind <kind>', 'kind of the instance group').choices(['KIND_GPU', 'KIND_CPU', 'KIND_AUTO']),
      )
      .option('--labels <file>', 'label_filename of the first output')
      .option('--no-dynamic-batching', 'do not turn on the dynamic batcher')
      .option('--partial <config.pbtxt>', 'a partial config to complete: only what it lacks is filled in'),
  ).action(
    action(async (target: string | undefined, opts: GenerateCliOptions) => {
      const { generateModelConfig, printModelConfig } = await import('../config/index.js');
      const { parseTensorOption, signatureFromOptions } = await import('../inspect/index.js');
      const partial = opts.partial ? await readConfigFile(opts.partial) : undefined;
      let signature: ModelSignature;
      if (target !== undefined) signature = await inspectWithOptions(target, opts);
      else if (partial?.platform === 'ensemble') {
        signature = signatureFromOptions(
          'ensemble',
          opts.input.map(parseTensorOption),
          opts.output.map(parseTensorOption),
        );
      } else {
        throw new CliError(
          'MSB_CLI_USAGE',
          'give a model file or directory (only an ensemble, given by --partial with platform "ensemble", has none)',
        );
      }
      const name = opts.name ?? partial?.name ?? path.basename(target ?? '').replace(/\.[^.]*$/, '');
      if (!name) throw new CliError('MSB_CLI_USAGE', 'name the model with --name (or in the partial config)');
      const generated = generateModelConfig(signature, {
        name,
        ...(opts.maxBatchSize !== undefined ? { maxBatchSize: opts.maxBatchSize } : {}),
        ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
        ...(opts.kind !== undefined ? { instanceKind: opts.kind } : {}),
        ...(opts.labels !== undefined ? { labels: opts.labels } : {}),
        ...(opts.dynamicBatching === false ? { dynamicBatching: false } : {}),
        ...(partial ? { partial } : {}),
      });
      process.stdout.write(printModelConfig(generated));
    }),
  );
}
