import type { Command } from 'commander';
import type { CorrelationIds, IdKind } from '../cid/index.js';
import { defaultRedisUrl, parseId } from '../cid/names.js';
import { action, printJson, printTable, withRedisTimeout } from './common.js';

interface CommonOptions {
  redis: string;
  redisTimeout?: number;
  json?: boolean;
}

/** `msb cid acquire|renew|release|ls MODEL`: correlation-ID leases from the command line (see README "Correlation IDs"). */
export function registerCidCommands(program: Command): void {
  const cid = program.command('cid').description('lease correlation IDs for stateful models (Triton sequence batcher)');
  const common = (c: Command) =>
    withRedisTimeout(c)
      .option(
        '--redis <url>',
        'Redis URL: redis://, rediss://, redis+sentinel://host:port,…/master, redis+cluster://host:port,… (default: $REDIS_URL or redis://127.0.0.1:6379)',
        defaultRedisUrl(),
      )
      .option('--json', 'print JSON');

  common(
    cid
      .command('acquire')
      .argument('<model>', 'stateful model the sequence runs on')
      .description('lease a new correlation ID; prints ID, token and expiry')
      .option('--ttl <ms>', 'lease length in milliseconds', '30000')
      .option('--kind <kind>', 'uint64 or string', 'uint64')
      .option('--cap <n>', 'refuse when the model already has this many live leases (0 = no cap)', '0')
      .option('--max-id <n>', 'largest ID to hand out (e.g. 4294967295 for a TYPE_UINT32 CORRID)')
      .option(
        '--wait-replicas <n>',
        'hand the ID out only once this many replicas have it (WAIT; Sentinel setups)',
        '0',
      ),
  ).action(
    action(
      async (
        model: string,
        o: CommonOptions & { ttl: string; kind: string; cap: string; maxId?: string; waitReplicas: string },
      ) => {
        const maxId = o.maxId === undefined ? undefined : parseId(o.maxId);
        await withClient(o, { maxId, waitReplicas: Number(o.waitReplicas) }, async (ids) => {
          const lease = await ids.acquire(model, { ttl: millis(o.ttl), kind: o.kind as IdKind, cap: Number(o.cap) });
          if (o.json) printJson(lease);
          else printTable(['id', 'token', 'expires'], [[String(lease.id), lease.token, iso(lease.expiresAt)]]);
        });
      },
    ),
  );

  common(
    cid
      .command('renew')
      .argument('<model>', 'model of the lease')
      .argument('<id>', 'correlation ID the lease holds')
      .description('extend a lease (needs the token printed by acquire)')
      .requiredOption('--token <token>', 'the lease token')
      .option('--ttl <ms>', 'new lease length in milliseconds', '30000'),
  ).action(
    action(async (model: string, id: string, o: CommonOptions & { token: string; ttl: string }) => {
      await withClient(o, {}, async (ids) => {
        const lease = await ids.renew({ model, id: parseId(id), token: o.token }, { ttl: millis(o.ttl) });
        if (o.json) printJson(lease);
        else printTable(['id', 'expires'], [[String(lease.id), iso(lease.expiresAt)]]);
      });
    }),
  );

  common(
    cid
      .command('release')
      .argument('<model>', 'model of the lease')
      .argument('<id>', 'correlation ID the lease holds')
      .description('end a lease (needs the token printed by acquire)')
      .requiredOption('--token <token>', 'the lease token'),
  ).action(
    action(async (model: string, id: string, o: CommonOptions & { token: string }) => {
      await withClient(o, {}, async (ids) => {
        const { releasedAt } = await ids.release({ model, id: parseId(id), token: o.token });
        if (o.json) printJson({ model, id, releasedAt });
        else printTable(['id', 'released'], [[id, iso(releasedAt)]]);
      });
    }),
  );

  common(
    cid.command('ls').argument('<model>', 'model whose leases to list').description('list the live leases of a model'),
  ).action(
    action(async (model: string, o: CommonOptions) => {
      await withClient(o, {}, async (ids) => {
        const leases = await ids.list(model);
        if (o.json) printJson(leases);
        else
          printTable(
            ['id', 'acquired', 'expires', 'ttl'],
            leases.map((l) => [String(l.id), iso(l.acquiredAt), iso(l.expiresAt), l.ttl]),
          );
      });
    }),
  );

  registerCidModelCommands(cid);
}

/** `msb cid model add STORE --name NAME --api URL`: the correlation-ID manager model (docs/cid.md). */
function registerCidModelCommands(cid: Command): void {
  const collect = (value: string, previous: string[]) => [...previous, value];
  cid
    .command('model')
    .description('the correlation-ID manager: a Triton model that hands out IDs from msb serve')
    .command('add')
    .argument('<store>', 'model store: a directory or URI (s3://…, gs://…)')
    .description('publish the correlation-ID manager model into a store (path, s3:// or gs://)')
    .requiredOption('--name <name>', 'the manager model name, e.g. cidmgr')
    .requiredOption('--api <url>', "msb serve's URL as the Triton server reaches it, e.g. http://msb:8080")
    .option('--target <model>', 'a sequence model of the store it serves (repeat; default: any model)', collect, [])
    .option('--kind <kind>', "uint64 or string (default: the targets' CORRID type, else uint64)")
    .option('--ttl <ms>', 'lease length when a request gives no TTL_MS', '30000')
    .option('--timeout <ms>', 'longest wait for msb serve per request', '5000')
    .option('--token-env <var>', "the Triton server's environment variable holding the API token", 'MSB_CID_TOKEN')
    .option('--instances <n>', 'model instances (requests served at once)', '2')
    .option('--force', 'replace the config of an existing model of that name')
    .option('--json', 'print JSON')
    .action(
      action(
        async (
          store: string,
          o: {
            name: string;
            api: string;
            target: string[];
            kind?: string;
            ttl: string;
            timeout: string;
            tokenEnv: string;
            instances: string;
            force?: boolean;
            json?: boolean;
          },
        ) => {
          const { addManagerModel } = await import('../cid/index.js');
          const result = await addManagerModel({
            store,
            name: o.name,
            apiUrl: o.api,
            targets: o.target,
            ...(o.kind !== undefined ? { kind: o.kind as IdKind } : {}),
            ttl: millis(o.ttl),
            timeoutMs: millis(o.timeout),
            tokenEnv: o.tokenEnv,
            instances: millis(o.instances),
            force: o.force ?? false,
          });
          if (o.json) printJson(result);
          else
            process.stdout.write(
              `published ${result.model} version ${result.version} in ${result.store} (${result.kind} IDs for ${result.targets.length ? result.targets.join(', ') : 'any model'})\n`,
            );
        },
      ),
    );
}

function millis(text: string): number {
  // Number('') is 0 and Number('1e3') is 1000: only plain digits count as a millisecond value
  return /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** One short-lived command-mode connection: "cannot reach Redis at URL" rather than a hang; always closed. */
async function withClient(
  o: CommonOptions,
  options: { maxId?: bigint | undefined; waitReplicas?: number },
  fn: (ids: CorrelationIds) => Promise<void>,
): Promise<void> {
  // loaded here, not at the top: `msb --help` must not load ioredis
  const [{ withRedis }, { CorrelationIds }] = await Promise.all([
    import('../redis/index.js'),
    import('../cid/index.js'),
  ]);
  return withRedis(
    o.redis,
    (link) =>
      fn(
        new CorrelationIds(link.connection, {
          ...(options.maxId === undefined ? {} : { maxId: options.maxId }),
          ...(options.waitReplicas ? { waitReplicas: options.waitReplicas } : {}),
        }),
      ),
    o.redisTimeout ? { connectTimeoutMs: o.redisTimeout } : {},
  );
}
