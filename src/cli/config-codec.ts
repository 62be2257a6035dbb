import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { MsbError } from '../errors.js';
import { action, EXIT_PROBLEMS, printJson } from './common.js';

/** Reads FILE, or standard input for `-`. */
export async function readInput(file: string): Promise<string> {
  if (file !== '-') {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new MsbError('MSB_CLI_READ', `cannot read ${file}: ${(err as Error).message}`, { file }, { cause: err });
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a config file, naming it in any error (`file:line:column: message`). */
export async function readConfigFile(file: string) {
  const { parseModelConfig } = await import('../config/index.js');
  return parseModelConfig(await readInput(file), { source: file === '-' ? '<stdin>' : file });
}

export function registerConfigCodecCommands(config: Command): void {
  config
    .command('fmt')
    .description('rewrite config.pbtxt files canonically (as protobuf prints them)')
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
            canonical = printModelConfig(parseModelConfig(text, { source: file }));
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
        const text = await readInput(file);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (err) {
          throw new MsbError('MSB_CLI_JSON', `${file}: not JSON: ${(err as Error).message}`, { file });
        }
        const { modelConfigFromJson, printModelConfig } = await import('../config/index.js');
        process.stdout.write(printModelConfig(modelConfigFromJson(json)));
      }),
    );
}
