import type { Command } from 'commander';
import { defaultRedisUrl } from '../redis/url.js';
import { action, printJson, printTable } from './common.js';
import { CliError } from './errors.js';
import { parseGpusOption, tritonFromEnv } from './release-options.js';

/** A parser of `flag`'s value: a whole number in [min, max] (commander hands over the text). */
function integer(flag: string, min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max)
      throw new CliError('MSB_CLI_ARGUMENT', `${flag} takes a whole number from ${min} to ${max}, got '${text}'`);
    return n;
  };
}

/** `msb serve` and `msb token`: Fastify, Bull Board and the API load only when one of them runs. */
export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API v1, the dashboard and Bull Board (stateless: run as many replicas as you like)')
    .option('--port <port>', 'port to listen on (0: a free one)', integer('--port', 0, 65535), 8080)
    .option('--host <address>', 'address to listen on (non-loopback needs --tokens)', '127.0.0.1')
    .option('--redis <url>', 'Redis URL (default: $REDIS_URL or redis://127.0.0.1:6379)')
    .requiredOption('--store <path>', 'required: the model store, an existing directory (read-only here)')
    .requiredOption(
      '--artifacts <dir|uri>',
      'required: where uploaded model files go, a directory the workers can read or an object-store URI (s3://…, gs://…)',
    )
    .option(
      '--tokens <file>',
      'tokens file (msb token add): it must exist and hold a token; without it only loopback is allowed and nothing is checked',
    )
    .option(
      '--source-root <dir>',
      'a directory job sources may name by path (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--max-artifact-bytes <n>',
      'largest upload',
      integer('--max-artifact-bytes', 1, Number.MAX_SAFE_INTEGER),
      16 * 1024 ** 3,
    )
    .option('--log', 'log every request (JSON lines on stdout)')
    .option(
      '--triton <release>',
      "Triton release (e.g. 25.01) problems are reported against and build jobs must target (default $MSB_TRITON_RELEASE, else the store's)",
    )
    .option(
      '--gpus <ccs>',
      "the fleet's compute capabilities (e.g. 8.0,8.6): problems name models without a plan for one",
    )
    .action(
      action(
        async (opts: {
          port: number;
          host: string;
          redis?: string;
          store: string;
          artifacts: string;
          tokens?: string;
          sourceRoot: string[];
          maxArtifactBytes: number;
          log?: boolean;
          triton?: string;
          gpus?: string;
        }) => {
          const { startApiServer } = await import('../api/index.js');
          const triton = opts.triton ?? tritonFromEnv();
          const gpus = await parseGpusOption(opts.gpus);
          const server = await startApiServer({
            host: opts.host,
            port: opts.port,
            redis: opts.redis ?? defaultRedisUrl(),
            store: opts.store,
            artifacts: opts.artifacts,
            ...(opts.tokens ? { tokens: opts.tokens } : {}),
            sourceRoots: opts.sourceRoot,
            maxArtifactBytes: opts.maxArtifactBytes,
            logger: opts.log ?? false,
            ...(triton !== undefined ? { triton } : {}),
            ...(gpus ? { gpus } : {}),
          });
          process.stderr.write(`msb serve: dashboard and API at ${server.url}/ (OpenAPI: ${server.url}/docs)\n`);
          await new Promise<void>((resolve) => {
            for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
          });
          await server.close();
        },
      ),
    );

  const token = program.command('token').description('API tokens for msb serve (only their hashes are stored)');
  token
    .command('add')
    .argument('<name>', 'who or what the token is for')
    .requiredOption('--scopes <list>', 'comma-separated: read, enqueue, admin')
    .requiredOption('--tokens <file>', 'tokens file')
    .description('create a token; it is printed once on stdout and stored only as a hash')
    .action(
      action(async (name: string, opts: { scopes: string; tokens: string }) => {
        const { addToken, parseScopes } = await import('../api/tokens.js');
        process.stdout.write(`${await addToken(opts.tokens, name, parseScopes(opts.scopes))}\n`);
      }),
    );
  token
    .command('ls')
    .description('list the tokens: name, scopes, creation time (never the secret)')
    .requiredOption('--tokens <file>', 'tokens file')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { tokens: string; json?: boolean }) => {
        const { listTokens } = await import('../api/tokens.js');
        const list = await listTokens(opts.tokens);
        if (opts.json) printJson(list);
        else
          printTable(
            ['name', 'scopes', 'created'],
            list.map((t) => [t.name, t.scopes.join(','), t.createdAt]),
          );
      }),
    );
  token
    .command('rm')
    .description('revoke a token: remove it from the tokens file')
    .argument('<name>', 'token name')
    .requiredOption('--tokens <file>', 'tokens file')
    .action(
      action(async (name: string, opts: { tokens: string }) => {
        const { removeToken } = await import('../api/tokens.js');
        await removeToken(opts.tokens, name);
      }),
    );
}
