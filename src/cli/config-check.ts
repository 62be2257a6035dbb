import path from 'node:path';
import type { Command } from 'commander';
import { MsbError } from '../errors.js';
import { action, EXIT_ERROR, EXIT_PROBLEMS, reportError } from './common.js';
import { readConfigFile } from './config-codec.js';
import { CliError } from './errors.js';

export function registerConfigCheckCommands(config: Command): void {
  config
    .command('check')
    .description('parse and validate config.pbtxt files by the rules Triton applies when it loads a model')
    .argument('<file...>', 'config files')
    .option('--name <model>', "expected model name (default: the name of the file's parent directory)")
    .option('--no-name-check', 'do not compare the config name with the directory name')
    .option('--gpus <ids>', 'comma-separated GPU ids of the serving machine, to check instance_group gpus against')
    .action(
      action(async (files: string[], opts: { name?: string; nameCheck: boolean; gpus?: string }) => {
        const gpus = opts.gpus === undefined ? undefined : parseGpus(opts.gpus);
        const { validateModelConfig } = await import('../config/index.js');
        let failed = 0;
        let unreadable = 0;
        for (const file of files) {
          let problems: { path: string; rule: string; message: string }[];
          try {
            const dirName = opts.name ?? path.basename(path.dirname(path.resolve(file)));
            const config = await readConfigFile(file);
            // Without the name check the config still needs no `name`: Triton takes the directory's name then.
            const modelName = opts.nameCheck ? dirName : (config.name ?? dirName);
            problems = validateModelConfig(config, { modelName, gpus });
          } catch (err) {
            if (!(err instanceof MsbError)) throw err;
            // A file that cannot be read is input msb could not run on (exit 2, the coded line); a file that does not
            // parse is a problem found in it (exit 1).
            if (err.code.startsWith('MSB_CLI_')) {
              reportError(err);
              unreadable++;
            } else {
              process.stderr.write(`${err.message}\n`);
              failed++;
            }
            continue;
          }
          for (const p of problems)
            process.stderr.write(`${file}: ${p.path || '(config)'}: ${p.message} [${p.rule}]\n`);
          if (problems.length) failed++;
        }
        if (unreadable) process.exitCode = EXIT_ERROR;
        else if (failed) process.exitCode = EXIT_PROBLEMS;
      }),
    );
}

function parseGpus(text: string): number[] {
  const ids = text === '' ? [] : text.split(',').map((s) => Number(s.trim()));
  if (ids.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new CliError('MSB_CLI_ARGUMENT', `--gpus takes comma-separated GPU ids (integers >= 0), got '${text}'`);
  }
  return ids;
}
