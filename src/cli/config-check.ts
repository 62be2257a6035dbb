import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { ModelConfig } from '../config/index.js';
import { MsbError } from '../errors.js';
import type { ValidateOptions } from '../store/index.js';
import { action, EXIT_ERROR, EXIT_PROBLEMS, reportError } from './common.js';
import { readInput } from './config-codec.js';
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
      action(async (files: string[], opts: ConfigCheckOptions) => {
        const gpus = opts.gpus === undefined ? undefined : parseGpus(opts.gpus);
        const triton = opts.triton ?? tritonFromEnv();
        // An unknown release is refused even where no store is there to check.
        const named = triton === undefined ? undefined : (await import('../release/index.js')).resolveRelease(triton);
        const ccs = await parseGpusOption(opts.computeCapabilities);
        const [{ parseModelConfig, TextFormatError, validateModelConfig }, llm] = await Promise.all([
          import('../config/index.js'),
          import('../llm/index.js'),
        ]);
        let failed = 0;
        let unreadable = 0;
        for (const file of files) {
          let problems: { path: string; rule: string; message: string }[];
          let text: string;
          try {
            text = await readInput(file);
          } catch (err) {
            if (!(err instanceof MsbError)) throw err;
            reportError(err);
            unreadable++;
            continue;
          }
          const source = file === '-' ? '<stdin>' : file;
          // Template keys never filled: named with their fix (--set KEY=…) rather than as the parser's "got: $".
          const keys = text.includes('${') ? llm.templateProblems(text, source) : [];
          for (const p of keys) {
            process.stderr.write(
              `${p.file}:${p.line}:${p.column}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message} [${p.rule}]\n`,
            );
          }
          let config: ModelConfig;
          try {
            config = parseModelConfig(text, { source });
          } catch (err) {
            if (!(err instanceof TextFormatError)) throw err;
            // A file that does not parse is a problem found in it (exit 1); its template keys said why, if they did.
            if (!keys.some((p) => p.severity === 'error')) process.stderr.write(`${err.message}\n`);
            failed++;
            continue;
          }
          const dirName = opts.name ?? path.basename(path.dirname(path.resolve(file)));
          // Without the name check the config still needs no `name`: Triton takes the directory's name then.
          const modelName = opts.nameCheck ? dirName : (config.name ?? dirName);
          problems = validateModelConfig(config, { modelName, gpus });
          for (const p of problems)
            process.stderr.write(`${file}: ${p.path || '(config)'}: ${p.message} [${p.rule}]\n`);
          // The release (named, else the store's default) and fleet checks this model's store would run.
          const inStore = file === '-' ? undefined : await storeChecks(file, text, triton, ccs);
          const checks = inStore?.checks;
          let vllmErrors = 0;
          if (config.backend === 'vllm' && file !== '-') {
            // Checked against the vLLM of that release, as `msb validate` checks it.
            const vllmVersion = checks ? checks.vllmVersion : (named?.vllm ?? undefined);
            // The engine arguments beside it: each version directory's model.json.
            const dir = path.dirname(path.resolve(file));
            for (const v of (await readdir(dir, { withFileTypes: true })).filter(
              (e) => e.isDirectory() && /^[1-9]\d*$/.test(e.name),
            )) {
              const json = path.join(path.dirname(file), v.name, llm.VLLM_MODEL_JSON);
              const body = await readFile(json, 'utf8').catch(() => undefined);
              const found =
                body === undefined
                  ? [
                      {
                        rule: 'vllm-model-json-missing',
                        severity: 'error',
                        message: 'missing: the vLLM backend reads the engine arguments from it',
                      },
                    ]
                  : await llm.checkVllmModelJson(body, {
                      config,
                      ...(gpus ? { gpus } : {}),
                      ...(vllmVersion !== undefined ? { vllmVersion } : {}),
                    });
              for (const p of found) {
                process.stderr.write(
                  `${json}: ${p.severity === 'warning' ? 'warning: ' : ''}${p.message} [${p.rule}]\n`,
                );
                if (p.severity === 'error') vllmErrors++;
              }
            }
          }
          const found = inStore?.found ?? [];
          for (const p of found) process.stderr.write(`${file}: ${p.severity}: ${p.path}: ${p.message} [${p.rule}]\n`);
          const releaseErrors = found.filter((p) => p.severity === 'error').length;
          if (problems.length || vllmErrors || releaseErrors || keys.some((p) => p.severity === 'error')) failed++;
        }
        if (unreadable) process.exitCode = EXIT_ERROR;
        else if (failed) process.exitCode = EXIT_PROBLEMS;
      }),
    );
}

/**
 * What `msb validate` would check for the model whose config is `file` (`<store>/<model>/config.pbtxt`), with the
 * store opened once: the checks (the release named, else the store's default, with its vLLM; the fleet) and the
 * release and fleet problems they find in the model files beside the config (plan headers, ONNX opsets: what no
 * config says; the rules of src/release/check.ts). Undefined when the file is not in a store.
 */
async function storeChecks(
  file: string,
  text: string,
  triton: string | undefined,
  ccs: string[] | undefined,
): Promise<
  { checks: ValidateOptions; found: { path: string; rule: string; severity: string; message: string }[] } | undefined
> {
  const { ModelStore, modelProblems } = await import('../store/index.js');
  const modelDir = path.dirname(path.resolve(file));
  let store: Awaited<ReturnType<typeof ModelStore.open>>;
  try {
    store = await ModelStore.open(path.dirname(modelDir), { readOnly: true });
  } catch (err) {
    if (err instanceof MsbError && err.code.startsWith('MSB_STORE_')) return undefined; // not in a store
    throw err;
  }
  try {
    const checks = await store.checksFor({
      ...(triton !== undefined ? { flag: triton } : {}),
      ...(ccs ? { gpus: ccs } : {}),
    });
    if (!checks.release && !checks.gpus) return { checks, found: [] };
    const all = await modelProblems(store.repository, path.basename(modelDir), text, checks);
    return { checks, found: all.filter((p) => p.rule.startsWith('release-') || p.rule.startsWith('gpu-')) };
  } finally {
    await store.close();
  }
}

interface ConfigCheckOptions {
  name?: string;
  nameCheck: boolean;
  gpus?: string;
  triton?: string;
  computeCapabilities?: string;
}

function parseGpus(text: string): number[] {
  const ids = text === '' ? [] : text.split(',').map((s) => Number(s.trim()));
  if (ids.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new CliError('MSB_CLI_ARGUMENT', `--gpus takes comma-separated GPU ids (integers >= 0), got '${text}'`);
  }
  return ids;
}
