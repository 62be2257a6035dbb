import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { MsbError } from '../errors.js';
import { action, EXIT_ERROR, EXIT_PROBLEMS, reportError } from './common.js';
import { readConfigFile } from './config-codec.js';
import { CliError } from './errors.js';
import { parseGpusOption, tritonFromEnv } from './release-options.js';

export function registerConfigCheckCommands(config: Command): void {
  config
    .command('check')
    .description('parse and validate config.pbtxt files by the rules Triton applies when it loads a model')
    .argument('<file...>', 'config files')
    .option('--name <model>', "expected model name (default: the name of the file's parent directory)")
    .option('--no-name-check', 'do not compare the config name with the directory name')
    .option('--gpus <ids>', 'comma-separated GPU ids of the serving machine, to check instance_group gpus against')
    .option(
      '--triton <release>',
      "Triton release (e.g. 25.01): also check the model files of the versions beside each config against it (default $MSB_TRITON_RELEASE, else the store's)",
    )
    .option(
      '--compute-capabilities <ccs>',
      "the fleet's compute capabilities (e.g. 8.0,8.6): each needs a plan it can load in the versions beside each config",
    )
    .action(
      action(
        async (
          files: string[],
          opts: { name?: string; nameCheck: boolean; gpus?: string; triton?: string; computeCapabilities?: string },
        ) => {
          const gpus = opts.gpus === undefined ? undefined : parseGpus(opts.gpus);
          const triton = opts.triton ?? tritonFromEnv();
          const ccs = await parseGpusOption(opts.computeCapabilities);
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
            // The release checks read what no config says (plan headers, ONNX opsets): the model files beside it.
            const found = await releaseProblems(file, triton, ccs);
            for (const p of found)
              process.stderr.write(`${file}: ${p.severity}: ${p.path}: ${p.message} [${p.rule}]\n`);
            if (problems.length || found.some((p) => p.severity === 'error')) failed++;
          }
          if (unreadable) process.exitCode = EXIT_ERROR;
          else if (failed) process.exitCode = EXIT_PROBLEMS;
        },
      ),
    );
}

/**
 * The release and fleet problems of the model whose config is `file` (`<store>/<model>/config.pbtxt`): the rules
 * `msb validate --triton` applies (src/release/check.ts), with the store's default release when none is named. None
 * when no release and no compute capability is given, or the file is not in a store.
 */
async function releaseProblems(
  file: string,
  triton: string | undefined,
  ccs: string[] | undefined,
): Promise<{ path: string; rule: string; severity: string; message: string }[]> {
  const modelDir = path.dirname(path.resolve(file));
  const { ModelStore, modelProblems } = await import('../store/index.js');
  let store: Awaited<ReturnType<typeof ModelStore.open>>;
  try {
    store = await ModelStore.open(path.dirname(modelDir), { readOnly: true });
  } catch (err) {
    if (err instanceof MsbError && err.code.startsWith('MSB_STORE_')) return []; // not in a store: no model files
    throw err;
  }
  try {
    const checks = await store.checksFor({
      ...(triton !== undefined ? { flag: triton } : {}),
      ...(ccs ? { gpus: ccs } : {}),
    });
    if (!checks.release && !checks.gpus) return [];
    const text = await readFile(file, 'utf8');
    const all = await modelProblems(store.repository, path.basename(modelDir), text, checks);
    return all.filter((p) => p.rule.startsWith('release-') || p.rule.startsWith('gpu-'));
  } finally {
    await store.close();
  }
}

function parseGpus(text: string): number[] {
  const ids = text === '' ? [] : text.split(',').map((s) => Number(s.trim()));
  if (ids.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new CliError('MSB_CLI_ARGUMENT', `--gpus takes comma-separated GPU ids (integers >= 0), got '${text}'`);
  }
  return ids;
}
