import path from 'node:path';
import { type Command, Option } from 'commander';
import { StoreError } from '../store/errors.js';
import type { ModelStore } from '../store/index.js';
import { action, EXIT_PROBLEMS, printJson, printTable } from './common.js';
import { CliError } from './errors.js';
import { nonNegativeInt, positiveInt } from './numbers.js';
import { addReleaseOptions, parseGpusOption, tritonFromEnv } from './release-options.js';

/** How store arguments are described in help. */
export const STORE_ARG =
  'store: a directory or URI (file://, s3://bucket/prefix, s3://[http://|https://]host:port/bucket/prefix, gs://bucket/prefix)';

/** Where `msb add` puts models when no store is named. */
export const DEFAULT_STORE = './model-store';

const opened: ModelStore[] = [];

/**
 * Opens a store named on the command line: a path or a store URI (`file://`, `s3://bucket/prefix`,
 * `s3://http://host:port/bucket/prefix`, `gs://bucket/prefix`). Object stores without conditional writes take their
 * leases from `REDIS_URL`. `read` (ls, show, validate, config get) creates and locks nothing; `create` (init) makes
 * the store. The store module (and what it imports) loads here, when a command needs it; the store is closed by
 * {@link storeAction} when the command ends.
 */
export async function openStoreForCli(root: string, mode: 'read' | 'write' | 'create' = 'write'): Promise<ModelStore> {
  const { ModelStore } = await import('../store/index.js');
  const store = await ModelStore.open(root, { create: mode === 'create', readOnly: mode === 'read' });
  opened.push(store);
  return store;
}

/** `action` for commands that open stores: their connections (S3 clients, Redis) are closed when it ends. */
export function storeAction<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return action(async (...args: A) => {
    try {
      await fn(...args);
    } finally {
      for (const s of opened.splice(0)) await s.close().catch(() => {});
    }
  });
}

const parseVersion = (v: string): number => {
  if (!/^[1-9]\d*$/.test(v)) {
    throw new StoreError(
      'MSB_STORE_INVALID_NAME',
      `invalid version ${JSON.stringify(v)}: a positive integer is needed`,
    );
  }
  return Number(v);
};

/** `msb init|ls|show|rm|version|labels|validate|add`: the model store. */
export function registerStoreCommands(program: Command): void {
  program
    .command('init')
    .description('create an empty model store (a Triton model repository)')
    .argument('<store>', STORE_ARG)
    .option('--triton <release>', "record the store's default Triton release (e.g. 25.01) for its release checks")
    .option('--json', 'machine-readable output')
    .action(
      storeAction(async (root: string, opts: { triton?: string; json?: boolean }) => {
        // Checked before the store is made: an unknown release creates nothing.
        if (opts.triton !== undefined) (await import('../release/index.js')).resolveRelease(opts.triton);
        const store = await openStoreForCli(root, 'create');
        if (opts.triton !== undefined) await store.setSettings({ ...(await store.settings()), triton: opts.triton });
        if (opts.json) printJson({ store: store.root, ...(opts.triton !== undefined ? { triton: opts.triton } : {}) });
        else process.stdout.write(`model store ready at ${store.root}\n`);
      }),
    );

  program
    .command('ls')
    .description('list the models of a store with their versions')
    .argument('<store>', STORE_ARG)
    .option('--json', 'machine-readable output')
    .action(
      storeAction(async (root: string, opts: { json?: boolean }) => {
        const store = await openStoreForCli(root, 'read');
        const { summary } = await import('../store/index.js'); // the one listing, shared with the API and dashboard
        // `model` is the key of ls --json (the API's /v1/models says `name`)
        const rows = (await summary(store)).map(({ name, ...rest }) => ({ model: name, ...rest }));
        if (opts.json) return printJson(rows);
        printTable(
          ['MODEL', 'PLATFORM/BACKEND', 'VERSIONS', 'LABELS'],
          rows.map((r) => [r.model, r.platform ?? r.backend ?? '', r.versions.join(',') || '-', r.labels.join(',')]),
        );
      }),
    );

  program
    .command('show')
    .description('show a model: config, versions with their files, labels')
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .option('--json', 'machine-readable output')
    .action(
      storeAction(async (root: string, name: string, opts: { json?: boolean }) => {
        const store = await openStoreForCli(root, 'read');
        const info = await (await store.getModel(name)).describe();
        if (opts.json) return printJson(info);
        const { printModelConfig } = await import('../config/index.js');
        process.stdout.write(`${printModelConfig(info.config)}\n`);
        printTable(
          ['VERSION', 'FILE', 'BYTES', 'PUBLISH KEY'],
          info.versions.flatMap((v) =>
            (v.files.length ? v.files : [{ path: '-', size: 0 }]).map((f) => [
              v.version,
              f.path,
              f.size,
              v.publishKey ?? '',
            ]),
          ),
        );
      }),
    );

  program
    .command('rm')
    .description('remove a model, or one version of it')
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .option('--version <v>', 'remove only this version', parseVersion)
    .action(
      storeAction(async (root: string, name: string, opts: { version?: number }) => {
        const store = await openStoreForCli(root);
        if (opts.version === undefined) await store.removeModel(name);
        else await (await store.getModel(name)).removeVersion(opts.version);
      }),
    );

  const version = program.command('version').description('add, remove and list versions of a model');
  const versionAdd = version
    .command('add')
    .description('publish a model file (or directory) as a new version')
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .argument('[file]', 'model file or directory (none for an ensemble)')
    .option('--version <v>', 'version number (default: one above the highest)', parseVersion)
    .option('--publish-key <key>', 'idempotency key: a second publish with this key returns the first version')
    .option('--link', 'hardlink instead of copying (only for files nothing will rewrite in place)')
    .option('--labels-from-metadata', "set the first output's labels from the file's class names (Ultralytics engines)")
    .option(
      '--force',
      "publish even when the file contradicts the model's config or the Triton release (the problems are printed)",
    )
    .option('--json', 'machine-readable output');
  addReleaseOptions(versionAdd).action(
    storeAction(
      async (
        root: string,
        name: string,
        file: string | undefined,
        opts: {
          version?: number;
          publishKey?: string;
          link?: boolean;
          labelsFromMetadata?: boolean;
          force?: boolean;
          json?: boolean;
          triton?: string;
          gpus?: string;
        },
      ) => {
        const { publish } = await import('../publish/index.js');
        const triton = opts.triton ?? tritonFromEnv();
        const gpus = await parseGpusOption(opts.gpus);
        const result = await publish({
          store: root,
          model: name,
          mode: 'add',
          ...(file !== undefined ? { source: file } : {}),
          ...(opts.version !== undefined ? { version: opts.version } : {}),
          ...(opts.publishKey !== undefined ? { publishKey: opts.publishKey } : {}),
          ...(opts.labelsFromMetadata ? { labelsFromMetadata: true } : {}),
          ...(opts.link ? { transfer: 'link' as const } : {}),
          ...(opts.force ? { force: true } : {}),
          ...(triton !== undefined ? { triton } : {}),
          ...(gpus ? { gpus } : {}),
        });
        printProblems(result.problems);
        if (opts.json) printJson({ model: name, version: result.version });
        else process.stdout.write(`${name} version ${result.version}\n`);
      },
    ),
  );
  version
    .command('rm')
    .description('remove a version')
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .argument('<version>', 'version number', parseVersion)
    .action(
      storeAction(async (root: string, name: string, v: number) => {
        await (await (await openStoreForCli(root)).getModel(name)).removeVersion(v);
      }),
    );
  version
    .command('ls')
    .description('list the versions of a model')
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .option('--json', 'machine-readable output')
    .action(
      storeAction(async (root: string, name: string, opts: { json?: boolean }) => {
        const info = await (await (await openStoreForCli(root, 'read')).getModel(name)).describe();
        if (opts.json) return printJson(info.versions);
        printTable(
          ['VERSION', 'FILES', 'BYTES', 'PUBLISHED', 'PUBLISH KEY'],
          info.versions.map((v) => [
            v.version,
            v.files.map((f) => f.path).join(','),
            v.files.reduce((n, f) => n + f.size, 0),
            v.publishedAt ?? '',
            v.publishKey ?? '',
          ]),
        );
      }),
    );

  const labels = program.command('labels').description("set or remove an output's labels file");
  labels
    .command('set')
    .description('write a labels file (one label per line) and point the output at it')
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .argument('<output>', 'output tensor name')
    .argument('<file>', 'labels file')
    .option('--file-name <name>', 'name in the model directory (default: the current one, else <output>_labels.txt)')
    .action(
      storeAction(async (root: string, name: string, output: string, file: string, opts: { fileName?: string }) => {
        const model = await (await openStoreForCli(root)).getModel(name);
        const placed = await model.setLabels(
          output,
          { file },
          opts.fileName !== undefined ? { fileName: opts.fileName } : {},
        );
        process.stdout.write(`${name}/${placed}\n`);
      }),
    );
  labels
    .command('rm')
    .description("remove an output's labels file and its label_filename")
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .argument('<output>', 'output tensor name')
    .action(
      storeAction(async (root: string, name: string, output: string) => {
        await (await (await openStoreForCli(root)).getModel(name)).removeLabels(output);
      }),
    );

  const validate = program
    .command('validate')
    .description('check the store as Triton would load it; exit 1 when Triton would fail on something')
    .argument('<store>', STORE_ARG)
    .option('--json', 'machine-readable output')
    .option(
      '--deep',
      'also load every ONNX version in ONNX Runtime as Triton would and run it once at the config shapes',
    );
  addReleaseOptions(validate).action(
    storeAction(async (root: string, opts: { json?: boolean; deep?: boolean; triton?: string; gpus?: string }) => {
      const gpus = await parseGpusOption(opts.gpus);
      const store = await openStoreForCli(root, 'read');
      const checks = await store.checksFor({
        ...(opts.triton !== undefined ? { flag: opts.triton } : {}),
        ...(tritonFromEnv() !== undefined ? { env: tritonFromEnv() } : {}),
        ...(gpus ? { gpus } : {}),
      });
      const problems = await store.validate(checks);
      if (opts.deep) problems.push(...(await (await import('./onnx-deep.js')).deepValidateStore(store)));
      if (opts.json) printJson(problems);
      else if (problems.length === 0) process.stdout.write('ok\n');
      else
        printTable(
          ['SEVERITY', 'PATH', 'RULE', 'PROBLEM'],
          problems.map((p) => [p.severity, p.path, p.rule, p.message]),
        );
      if (problems.some((p) => p.severity === 'error')) process.exitCode = EXIT_PROBLEMS;
    }),
  );

  registerAddCommand(program);
}

/** Problems published anyway (`--force`): one line each on stderr, as `validate` would report them. */
export function printProblems(problems: { severity: string; path: string; rule: string; message: string }[]): void {
  for (const p of problems) process.stderr.write(`msb: ${p.severity}: ${p.path}: ${p.rule}: ${p.message}\n`);
}

function registerAddCommand(program: Command): void {
  const add = program
    .command('add')
    .description('add a model file to a store: inspect it, generate its config, publish it as a version')
    .option('--store-path <store>', 'model store: a directory or URI (s3://…, gs://…)', DEFAULT_STORE)
    .addOption(new Option('--engine <file>', 'TensorRT plan').conflicts(['onnx', 'model']))
    .addOption(new Option('--onnx <file>', 'ONNX model').conflicts(['model']))
    .option('--model <path>', 'any model file or directory msb can inspect')
    .option('--name <name>', 'model name (default: the file name without extension)')
    .option('--version <v>', 'version number (default: one above the highest)', parseVersion)
    .option('--concurrency <n>', 'model instances per GPU (instance_group count)', positiveInt)
    .option('--platform <platform>', 'Triton platform (or backend) the model must be served by')
    .option('--max-batch-size <n>', 'max_batch_size (default: from the model)', nonNegativeInt)
    .option('--labels <file>', 'labels file for the first output')
    .option('--labels-from-metadata', "labels of the first output from the file's class names (Ultralytics engines)")
    .option(
      '--force',
      'when the model exists: replace its config (and the version, if --version names one); publish despite Triton-release problems',
    )
    .option('--strict', 'strict mode: version_policy specific lists each published version (see docs/storage.md)')
    .option('--input <spec>', 'input tensor NAME:TYPE:DIMS, repeatable', (v, acc: string[]) => [...acc, v], [])
    .option('--output <spec>', 'output tensor NAME:TYPE:DIMS, repeatable', (v, acc: string[]) => [...acc, v], [])
    .addOption(
      new Option(
        '--vllm <source>',
        'vLLM model: a local Hugging Face checkpoint directory, or a model id (org/name)',
      ).conflicts(['engine', 'onnx', 'model', 'tensorrtLlm']),
    )
    .addOption(
      new Option(
        '--tensorrt-llm <engine-dir>',
        'TensorRT-LLM engine directory: fills --templates into an ensemble',
      ).conflicts(['engine', 'onnx', 'model']),
    )
    .option('--templates <dir>', "with --tensorrt-llm: your copy of TensorRT-LLM's inflight_batcher_llm models")
    .option('--tokenizer <dir>', 'with --tensorrt-llm: the Hugging Face tokenizer directory')
    .option('--streaming', 'with --tensorrt-llm: stream responses (decoupled_mode true)')
    .option(
      '--set <key=value>',
      'with --vllm: an engine argument (JSON value or string); with --tensorrt-llm: a template key. Repeatable',
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .option('--json', 'machine-readable output');
  addReleaseOptions(add).action(
    storeAction(async (opts: AddCliOptions) => {
      if (opts.vllm !== undefined || opts.tensorrtLlm !== undefined) return addLlm(opts);
      if (opts.set.length > 0 || opts.templates !== undefined || opts.tokenizer !== undefined || opts.streaming) {
        throw new CliError(
          'MSB_CLI_USAGE',
          '--set, --templates, --tokenizer and --streaming go with --vllm or --tensorrt-llm',
        );
      }
      const source = opts.engine ?? opts.onnx ?? opts.model;
      if (!source) throw new StoreError('MSB_STORE_BAD_SOURCE', 'name the model with --engine, --onnx or --model');
      const [{ publish }, { parseTensorOption }] = await Promise.all([
        import('../publish/index.js'),
        import('../inspect/index.js'),
      ]);
      const triton = opts.triton ?? tritonFromEnv();
      const gpus = await parseGpusOption(opts.gpus);
      const result = await publish({
        store: opts.storePath,
        source,
        ...(opts.engine ? { format: 'tensorrt_plan' as const } : opts.onnx ? { format: 'onnx' as const } : {}),
        model: opts.name ?? path.basename(source).replace(/\.[^.]*$/, ''),
        inputs: opts.input.map(parseTensorOption),
        outputs: opts.output.map(parseTensorOption),
        mode: opts.force ? 'replace' : 'create',
        ...(opts.strict ? { strict: true } : {}),
        ...(opts.version !== undefined ? { version: opts.version } : {}),
        ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
        ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
        ...(opts.maxBatchSize !== undefined ? { maxBatchSize: opts.maxBatchSize } : {}),
        ...(opts.labels !== undefined ? { labels: opts.labels } : {}),
        ...(opts.labelsFromMetadata ? { labelsFromMetadata: true } : {}),
        // --force replaces an existing model's config; it also publishes despite release problems (printed).
        ...(opts.force ? { force: true } : {}),
        ...(triton !== undefined ? { triton } : {}),
        ...(gpus ? { gpus } : {}),
      });
      printProblems(result.problems);
      if (opts.json)
        printJson({ store: result.store, model: result.model, version: result.version, config: result.config });
      else process.stdout.write(`published ${result.model} version ${result.version} in ${result.store}\n`);
    }),
  );
}

/** `msb add --vllm` and `msb add --tensorrt-llm`: LLM repositories (docs/llm.md). */
async function addLlm(opts: AddCliOptions): Promise<void> {
  // Options of the model-file path that an LLM repository has no use for: refused rather than ignored.
  const stray = [
    opts.version !== undefined && '--version',
    opts.platform !== undefined && '--platform',
    opts.maxBatchSize !== undefined && '--max-batch-size',
    opts.labels !== undefined && '--labels',
    opts.labelsFromMetadata && '--labels-from-metadata',
    opts.strict && '--strict',
    opts.input.length > 0 && '--input',
    opts.output.length > 0 && '--output',
    opts.gpus !== undefined && '--gpus',
  ].filter((o): o is string => typeof o === 'string');
  if (stray.length > 0) {
    throw new CliError(
      'MSB_CLI_USAGE',
      `${stray.join(', ')} ${stray.length === 1 ? 'does' : 'do'} not apply to --vllm or --tensorrt-llm (docs/llm.md)`,
    );
  }
  const { publishTensorrtLlm, publishVllm } = await import('../publish/index.js');
  // --triton (else MSB_TRITON_RELEASE) names the release whose vLLM the engine arguments are checked against; an
  // unknown name is refused as everywhere else.
  const triton = opts.triton ?? tritonFromEnv();
  if (triton !== undefined) (await import('../release/index.js')).resolveRelease(triton);
  let result: Awaited<ReturnType<typeof publishVllm>>;
  if (opts.vllm !== undefined) {
    if (opts.templates !== undefined || opts.tokenizer !== undefined || opts.streaming) {
      throw new CliError(
        'MSB_CLI_USAGE',
        '--templates, --tokenizer and --streaming go with --tensorrt-llm, not --vllm',
      );
    }
    result = await publishVllm({
      store: opts.storePath,
      source: opts.vllm,
      set: opts.set,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.concurrency !== undefined ? { instanceCount: opts.concurrency } : {}),
      ...(opts.force ? { force: true } : {}),
      ...(triton !== undefined ? { triton } : {}),
    });
  } else {
    if (opts.templates === undefined || opts.tokenizer === undefined) {
      throw new CliError('MSB_CLI_USAGE', '--tensorrt-llm needs --templates DIR and --tokenizer DIR');
    }
    if (opts.name !== undefined || opts.force) {
      throw new CliError(
        'MSB_CLI_USAGE',
        '--tensorrt-llm takes the model names from the template directories (the ensemble names them) and creates them; --name and --force do not apply',
      );
    }
    const { parseSetOptions } = await import('../llm/index.js');
    result = await publishTensorrtLlm({
      store: opts.storePath,
      engineDir: opts.tensorrtLlm as string,
      templatesDir: opts.templates,
      tokenizerDir: opts.tokenizer,
      set: parseSetOptions(opts.set),
      ...(opts.streaming ? { streaming: true } : {}),
    });
  }
  for (const w of result.warnings)
    process.stderr.write(`msb: warning: ${w.file ? `${w.file}:${w.line ?? ''}: ` : ''}${w.message}\n`);
  if (opts.json) printJson({ store: result.store, models: result.models });
  else process.stdout.write(`published ${result.models.join(', ')} in ${result.store}\n`);
}

interface AddCliOptions {
  vllm?: string;
  tensorrtLlm?: string;
  templates?: string;
  tokenizer?: string;
  streaming?: boolean;
  set: string[];
  storePath: string;
  engine?: string;
  onnx?: string;
  model?: string;
  name?: string;
  version?: number;
  concurrency?: number;
  platform?: string;
  maxBatchSize?: number;
  labels?: string;
  labelsFromMetadata?: boolean;
  force?: boolean;
  strict?: boolean;
  input: string[];
  output: string[];
  json?: boolean;
  triton?: string;
  gpus?: string;
}
