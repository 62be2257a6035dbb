import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { ModelConfig } from '../config/index.js';
import { printJson } from './common.js';
import { readConfigFile } from './config-codec.js';
import { CliError } from './errors.js';
import { openStoreForCli, STORE_ARG, storeAction } from './store.js';

/**
 * `msb config get|set|edit STORE MODEL`: a stored model's config.pbtxt. `set` takes a whole config file (`-` for
 * stdin) and/or `--set field.path=value` edits (text-format field names and values, e.g. `max_batch_size=8`,
 * `dynamic_batching.max_queue_delay_microseconds=100`, `instance_group=[{count: 2 kind: KIND_GPU}]`); each is
 * applied to the config as it is on disk, under the model's lock, and the result is validated before it is written.
 */
export function registerConfigStoreCommands(config: Command): void {
  config
    .command('get')
    .description("print a stored model's config.pbtxt")
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .option('--json', 'protobuf JSON mapping instead of text format')
    .action(
      storeAction(async (root: string, name: string, opts: { json?: boolean }) => {
        const { modelConfigToJson, printModelConfig } = await import('../config/index.js');
        const model = await (await openStoreForCli(root)).getModel(name);
        if (opts.json) printJson(modelConfigToJson(model.config));
        else process.stdout.write(printModelConfig(model.config));
      }),
    );

  config
    .command('set')
    .description("replace a stored model's config from a file and/or change single fields (validated before saving)")
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .argument('[file]', 'config.pbtxt to store (- for stdin); the name is forced to the model name')
    .option(
      '--set <field=value>',
      'set one field (text-format path and value), repeatable',
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .action(
      storeAction(async (root: string, name: string, file: string | undefined, opts: { set: string[] }) => {
        if (file === undefined && opts.set.length === 0) {
          throw new CliError('MSB_CLI_USAGE', 'give a config file, --set field=value, or both');
        }
        // A whole file's name is forced to the model's (it may come from another model); --set name=... is refused.
        const replacement = file === undefined ? undefined : { ...(await readConfigFile(file)), name };
        const edits = await Promise.all(opts.set.map(parseAssignment));
        const model = await (await openStoreForCli(root)).getModel(name);
        await model.update((current) => edits.reduce((c, e) => deepMerge(c, e), replacement ?? current));
      }),
    );

  config
    .command('edit')
    .description("edit a stored model's config.pbtxt in $EDITOR; saved only when it parses and validates")
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .action(
      storeAction(async (root: string, name: string) => {
        const { parseModelConfig, printModelConfig } = await import('../config/index.js');
        const model = await (await openStoreForCli(root)).getModel(name);
        const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-edit-'));
        const file = path.join(dir, 'config.pbtxt');
        try {
          const before = printModelConfig(model.config);
          await writeFile(file, before);
          await runEditor(file);
          const text = await readFile(file, 'utf8');
          if (text === before) {
            process.stderr.write('no changes\n');
            return;
          }
          model.config = parseModelConfig(text, { source: file });
          // save() validates and refuses (MSB_STORE_CONFLICT) if someone changed the config while we edited.
          await model.save();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
    );
}

/** `a.b.c=value` → `{ a: { b: { c: value } } }`, parsed by the text-format parser against the schema. */
export async function parseAssignment(assignment: string): Promise<ModelConfig> {
  const { parseModelConfig } = await import('../config/index.js');
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new CliError('MSB_CLI_USAGE', `--set ${assignment}: expected field.path=value`);
  const fields = assignment.slice(0, eq).trim().split('.');
  const value = assignment.slice(eq + 1).trim();
  const wrap = (v: string) =>
    fields.reduceRight((inner, f, i) => (i === fields.length - 1 ? `${f}: ${inner}` : `${f} { ${inner} }`), v);
  try {
    return parseModelConfig(wrap(value), { source: `--set ${assignment}` });
  } catch (err) {
    // A bare word for a string field (`platform=onnxruntime_onnx`) is meant as the string.
    try {
      return parseModelConfig(wrap(JSON.stringify(value)), { source: `--set ${assignment}` });
    } catch {
      throw err;
    }
  }
}

/** Messages merge field by field; scalars, lists and maps from `patch` replace what `base` had. */
function deepMerge(base: ModelConfig, patch: ModelConfig): ModelConfig {
  const merge = (a: unknown, b: unknown): unknown => {
    if (!isMessage(a) || !isMessage(b)) return b;
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v) : v;
    return out;
  };
  return merge(base, patch) as ModelConfig;
}

function isMessage(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Runs `$VISUAL`/`$EDITOR` (a command line, as git does) on the file, attached to the terminal. */
function runEditor(file: string): Promise<void> {
  const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `${editor} "$1"`, 'msb-editor', file], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new CliError('MSB_CLI_EDITOR', `editor '${editor}' exited with status ${code}; nothing saved`, { editor }),
          ),
    );
  });
}
