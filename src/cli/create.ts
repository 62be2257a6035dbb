import type { Command } from 'commander';
import { printJson } from './common.js';
import { readConfigFile } from './config-codec.js';
import { openStoreForCli, STORE_ARG, storeAction } from './store.js';

/**
 * `msb create STORE MODEL [CONFIG|-]`: a model directory with its config.pbtxt and no version yet (a training
 * script's create_model, exportlib's API: versions come later with `msb version add`). The store's createModel does
 * the work: `--force` takes the first free `MODEL_0`, `MODEL_1`, ... instead of refusing an existing name.
 */
export function registerCreateCommand(program: Command): void {
  program
    .command('create')
    .description('create a model (its config.pbtxt, no version yet); --force picks MODEL_0, MODEL_1, ... when taken')
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .argument('[config]', 'config.pbtxt to start from (- for stdin); its name is replaced by the model name')
    .option('--platform <platform>', 'Triton platform (onnxruntime_onnx, tensorrt_plan, pytorch_libtorch, ...)')
    .option('--backend <backend>', 'Triton backend (python, onnxruntime, ...)')
    .option('--force', 'when the name is taken, use the first free MODEL_<n>')
    .option('--json', 'machine-readable output')
    .action(
      storeAction(
        async (
          root: string,
          name: string,
          file: string | undefined,
          opts: { platform?: string; backend?: string; force?: boolean; json?: boolean },
        ) => {
          const config = file === undefined ? undefined : await readConfigFile(file);
          const store = await openStoreForCli(root);
          const model = await store.createModel(name, {
            ...(config ? { config } : {}),
            ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
            ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
            force: opts.force ?? false,
          });
          if (opts.json) printJson({ model: model.name, store: store.root });
          else process.stdout.write(`created ${model.name} in ${store.root}\n`);
        },
      ),
    );
}
