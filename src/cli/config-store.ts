import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { ConfigComments, ModelConfig } from '../config/index.js';
import { printJson } from './common.js';
import { readConfigFile } from './config-codec.js';
import { CliError } from './errors.js';
import { openStoreForCli, printProblems, STORE_ARG, storeAction } from './store.js';

/**
 * `msb config get|set|edit STORE MODEL`: a stored model's config.pbtxt. `set` takes a whole config file (`-` for
 * stdin) and/or `--set field.path=value` edits (text-format field names and values, e.g. `max_batch_size=8`,
 * `dynamic_batching.max_queue_delay_microseconds=100`, `instance_group[0].kind=KIND_CPU`,
 * `instance_group=[{count: 2 kind: KIND_GPU}]`). Every edit goes through the store's one read-modify-write
 * (`StoredModel.update`, or `save` for `edit`): applied to the config as it is in the store, under the model's lock,
 * checked with Triton's config rules and `validate`'s model checks before it is saved (refused, or `--force`), with
 * the file's comments kept.
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
        const model = await (await openStoreForCli(root, 'read')).getModel(name);
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
    .option('--force', 'save even when Triton would refuse the model with this config (the problems are printed)')
    .action(
      storeAction(
        async (root: string, name: string, file: string | undefined, opts: { set: string[]; force?: boolean }) => {
          if (file === undefined && opts.set.length === 0) {
            throw new CliError('MSB_CLI_USAGE', 'give a config file, --set field=value, or both');
          }
          // A whole file's name is forced to the model's (it may come from another model); --set name=... is refused.
          // The file's own comments replace the stored ones with it.
          const fileComments: ConfigComments = new Map();
          const replacement = file === undefined ? undefined : { ...(await readConfigFile(file, fileComments)), name };
          const edits = await Promise.all(opts.set.map(parseAssignment));
          const model = await (await openStoreForCli(root)).getModel(name);
          const problems = await model.update(
            (current) => edits.reduce((c, e) => applyAssignment(c, e), replacement ?? current),
            { force: opts.force ?? false, ...(replacement ? { comments: fileComments } : {}) },
          );
          printProblems(problems);
        },
      ),
    );

  config
    .command('edit')
    .description("edit a stored model's config.pbtxt in $EDITOR; saved only when it parses and validates")
    .argument('<store>', STORE_ARG)
    .argument('<model>', 'model name')
    .option('--force', 'save even when Triton would refuse the model with this config (the problems are printed)')
    .action(
      storeAction(async (root: string, name: string, opts: { force?: boolean }) => {
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
          // save() checks as update() does, and refuses (MSB_STORE_CONFLICT) if someone changed the config while we
          // edited.
          printProblems(await model.save({ force: opts.force ?? false }));
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
    );
}

/** One `--set` edit: the field path (with `[i]` where it indexes a repeated field) and the value as a patch. */
export interface Assignment {
  text: string;
  /** Proto field names, each with the element index given (`instance_group[0].kind` → instance_group/0, kind). */
  segments: { field: string; index?: number }[];
  /** The value wrapped in its path without indices, parsed against the schema: `{ instanceGroup: [{ kind }] }`. */
  patch: ModelConfig;
}

const SEGMENT = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$/;

/**
 * `a.b[1].c=value` → its path and `{ a: { b: [{ c: value }] } }`, the value parsed by the text-format parser
 * against the schema (so a wrong field name or type is the parser's one clear line).
 */
export async function parseAssignment(assignment: string): Promise<Assignment> {
  const { parseModelConfig } = await import('../config/index.js');
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new CliError('MSB_CLI_USAGE', `--set ${assignment}: expected field.path=value`);
  const segments = assignment
    .slice(0, eq)
    .trim()
    .split('.')
    .map((part) => {
      const m = SEGMENT.exec(part);
      if (!m?.[1]) {
        throw new CliError(
          'MSB_CLI_USAGE',
          `--set ${assignment}: ${JSON.stringify(part)} is not a field name (with an optional [index])`,
        );
      }
      return { field: m[1], ...(m[2] !== undefined ? { index: Number(m[2]) } : {}) };
    });
  const value = assignment.slice(eq + 1).trim();
  const fields = segments.map((s) => s.field);
  const wrap = (v: string) =>
    fields.reduceRight((inner, f, i) => (i === fields.length - 1 ? `${f}: ${inner}` : `${f} { ${inner} }`), v);
  const source = `--set ${assignment}`;
  let patch: ModelConfig;
  try {
    patch = parseModelConfig(wrap(value), { source });
  } catch (err) {
    // A bare word for a string field (`platform=onnxruntime_onnx`) is meant as the string.
    try {
      patch = parseModelConfig(wrap(JSON.stringify(value)), { source });
    } catch {
      throw err;
    }
  }
  return { text: assignment, segments, patch };
}

/**
 * Applies one edit to `config` (a copy is returned): messages merge field by field; at a repeated field the edit
 * goes into the element its `[index]` names (index = length appends one), or, without an index, into the only
 * element (refused when there are several: say which); the last field of the path is replaced (a scalar, a list
 * given as `[...]` or a whole repeated field without index, as `instance_group=[{...}]`).
 */
export function applyAssignment(config: ModelConfig, edit: Assignment): ModelConfig {
  const fail = (why: string) => new CliError('MSB_CLI_USAGE', `--set ${edit.text}: ${why}`);
  const apply = (target: unknown, patch: Record<string, unknown>, depth: number, at: string): unknown => {
    const seg = edit.segments[depth];
    const [key] = Object.keys(patch);
    if (!seg || key === undefined) return target;
    const base: Record<string, unknown> = isMessage(target) ? { ...target } : {};
    const value = patch[key];
    const here = at ? `${at}.${seg.field}` : seg.field;
    const last = depth === edit.segments.length - 1;
    if (Array.isArray(value) && (!last || seg.index !== undefined)) {
      // A repeated field addressed into: the one element the edit names.
      const list = Array.isArray(base[key]) ? [...(base[key] as unknown[])] : [];
      let index = seg.index;
      if (index === undefined) {
        if (list.length > 1) {
          throw fail(
            `${here} has ${list.length} elements: name one, as ${here}[0]${edit.text.slice(edit.text.indexOf(seg.field) + seg.field.length)}`,
          );
        }
        index = 0;
      }
      if (index > list.length) throw fail(`${here} has ${list.length} elements: [${index}] is past the end`);
      const element = value[0];
      list[index] = last
        ? merge(list[index], element)
        : apply(list[index], element as Record<string, unknown>, depth + 1, `${here}[${index}]`);
      base[key] = list;
    } else if (last) {
      base[key] = isMessage(value) && !Array.isArray(value) ? merge(base[key], value) : value;
    } else {
      base[key] = apply(base[key], value as Record<string, unknown>, depth + 1, here);
    }
    return base;
  };
  return apply(config, edit.patch as Record<string, unknown>, 0, '') as ModelConfig;
}

/** Messages merge field by field; scalars, lists and maps entries from `patch` replace what `base` had. */
function merge(base: unknown, patch: unknown): unknown {
  if (!isMessage(base) || !isMessage(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = k in base ? merge(base[k], v) : v;
  return out;
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
