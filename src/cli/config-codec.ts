import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ConfigComments } from '../config/index.js';
import { MsbError } from '../errors.js';
import { action, EXIT_PROBLEMS, printJson } from './common.js';
import { CliError } from './errors.js';

/**
 * The largest config file read (text or JSON). Real configs are a few KiB (Triton's own qa configs are all under
 * 64 KiB); anything near this is not a config, and reading a device or a huge file would exhaust memory first.
 */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

const tooLarge = (what: string, size: string) =>
  new CliError(
    'MSB_CLI_FILE_TOO_LARGE',
    `${what} is ${size}; a config file is at most ${MAX_CONFIG_BYTES / 1024 / 1024} MiB`,
    { file: what, limit: MAX_CONFIG_BYTES },
  );

/**
 * Reads FILE, or standard input for `-`. Only regular files are read (`MSB_CLI_NOT_A_FILE` names what it is), and
 * nothing larger than {@link MAX_CONFIG_BYTES} (`MSB_CLI_FILE_TOO_LARGE`, decided from the size before reading).
 */
export async function readInput(file: string): Promise<string> {
  if (file !== '-') {
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      throw new CliError('MSB_CLI_READ', `cannot read ${file}: ${(err as Error).message}`, { file }, { cause: err });
    }
    try {
      // Checked on the opened file, so what is read is what was checked.
      const st = await fh.stat();
      if (!st.isFile()) {
        const { fileKind } = await import('../inspect/index.js'); // only on this error: msb --help stays light
        throw new CliError('MSB_CLI_NOT_A_FILE', `${file} is ${fileKind(st)}, not a config file`, { file });
      }
      if (st.size > MAX_CONFIG_BYTES) throw tooLarge(file, `${st.size} bytes`);
      return await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_CONFIG_BYTES) throw tooLarge('standard input', `over ${size} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads FILE (or `-`) as {@link readInput} does and parses it as JSON; not JSON is `MSB_CLI_JSON` naming the file. */
export async function readJsonInput(file: string): Promise<unknown> {
  const text = await readInput(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError('MSB_CLI_JSON', `${file}: not JSON: ${(err as Error).message}`, { file });
  }
}

/**
 * Parses a config file, naming it in any error (`file:line:column: message`); with `comments`, its comments are
 * added to that map (see src/config/textformat/comments.ts).
 */
export async function readConfigFile(file: string, comments?: ConfigComments) {
  const { parseModelConfig } = await import('../config/index.js');
  return parseModelConfig(await readInput(file), {
    source: file === '-' ? '<stdin>' : file,
    ...(comments ? { comments } : {}),
  });
}

export function registerConfigCodecCommands(config: Command): void {
  config
    .command('fmt')
    .description('rewrite config.pbtxt files canonically (as protobuf prints them), keeping their comments')
    .argument('<file...>', 'config files')
    .option('--check', 'write nothing; exit 1 and list the files that are not canonical')
    .action(
      action(async (files: string[], opts: { check?: boolean }) => {
        const { parseModelConfig, printModelConfig } = await import('../config/index.js');
        const { writeFileAtomic } = await import('../atomic-file.js');
        let problems = 0;
        for (const file of files) {
          const text = await readInput(file);
          let canonical: string;
          try {
            // Comments stay, each with its field (see src/config/textformat/comments.ts).
            const comments = new Map();
            canonical = printModelConfig(parseModelConfig(text, { source: file, comments }), { comments });
          } catch (err) {
            if (!(err instanceof MsbError)) throw err;
            process.stderr.write(`${err.message}\n`);
            problems++;
            continue;
          }
          if (canonical === text) continue;
          if (opts.check) {
            process.stdout.write(`${file}\n`);
            problems++;
          } else {
            await writeFileAtomic(file, canonical);
          }
        }
        if (problems) process.exitCode = EXIT_PROBLEMS;
      }),
    );

  config
    .command('json')
    .description('print a config.pbtxt as JSON (the protobuf JSON mapping)')
    .argument('<file>', 'config file, or - for standard input')
    .action(
      action(async (file: string) => {
        const { modelConfigToJson } = await import('../config/index.js');
        printJson(modelConfigToJson(await readConfigFile(file)));
      }),
    );

  config
    .command('from-json')
    .description('print a JSON config (protobuf JSON mapping) as config.pbtxt')
    .argument('<file>', 'JSON file, or - for standard input')
    .action(
      action(async (file: string) => {
        const json = await readJsonInput(file);
        const { modelConfigFromJson, printModelConfig } = await import('../config/index.js');
        process.stdout.write(printModelConfig(modelConfigFromJson(json)));
      }),
    );
}
