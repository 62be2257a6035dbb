/**
 * API tokens: `msb token add` prints a new token once and stores only its SHA-256 (a token is 256 random bits, so a
 * plain hash cannot be reversed or guessed; slow password hashes are for low-entropy secrets). The server compares
 * hashes in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { ApiError } from './errors.js';

export const SCOPES = ['read', 'enqueue', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenEntry {
  name: string;
  /** `sha256:<hex>` of the token. */
  hash: string;
  scopes: Scope[];
  createdAt: string;
}

interface TokenFile {
  msb: 1;
  tokens: TokenEntry[];
}

/** Prefix of every token, so secret scanners and people recognise one. */
const PREFIX = 'msb_';

function hashOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function parseScopes(text: string): Scope[] {
  const scopes = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || bad.length > 0) {
    throw new ApiError(
      'MSB_API_TOKENS',
      `invalid scopes ${JSON.stringify(text)}: a comma-separated list of ${SCOPES.join(', ')} is needed`,
      { scopes: text },
    );
  }
  return [...new Set(scopes as Scope[])];
}

function checkTokenName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new ApiError(
      'MSB_API_TOKENS',
      `invalid token name ${JSON.stringify(name)}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      { name },
    );
  }
  return name;
}

async function readTokenFile(file: string): Promise<TokenFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { msb: 1, tokens: [] };
    throw new ApiError('MSB_API_TOKENS', `cannot read tokens file ${file}: ${(err as Error).message}`, { path: file });
  }
  try {
    const parsed = JSON.parse(text) as TokenFile;
    if (parsed.msb !== 1 || !Array.isArray(parsed.tokens)) throw new Error('not an msb tokens file');
    return parsed;
  } catch (err) {
    throw new ApiError('MSB_API_TOKENS', `tokens file ${file} is not valid: ${(err as Error).message}`, { path: file });
  }
}

/** Adds a token; returns the token itself, which is shown once and stored nowhere. */
export async function addToken(file: string, name: string, scopes: Scope[]): Promise<string> {
  const data = await readTokenFile(file);
  if (data.tokens.some((t) => t.name === checkTokenName(name))) {
    throw new ApiError('MSB_API_TOKENS', `a token named ${name} exists already (msb token rm ${name} first)`, { name });
  }
  const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
  data.tokens.push({
    name,
    hash: `sha256:${hashOf(token).toString('hex')}`,
    scopes,
    createdAt: new Date().toISOString(),
  });
  await writeTokenFile(file, data);
  return token;
}

export async function listTokens(file: string): Promise<Omit<TokenEntry, 'hash'>[]> {
  return (await readTokenFile(file)).tokens.map(({ hash: _hash, ...rest }) => rest);
}

export async function removeToken(file: string, name: string): Promise<void> {
  const data = await readTokenFile(file);
  const kept = data.tokens.filter((t) => t.name !== name);
  if (kept.length === data.tokens.length) {
    throw new ApiError('MSB_API_NOT_FOUND', `no token named ${name} in ${file}`, { name });
  }
  await writeTokenFile(file, { msb: 1, tokens: kept });
}

async function writeTokenFile(file: string, data: TokenFile): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`);
  // Only hashes are stored, but nobody else needs to read which tokens exist.
  await chmod(file, 0o600);
}

/** Who a request is: the token's name and scopes. */
export interface Principal {
  name: string;
  scopes: Scope[];
}

/** True when `p` may use a route that needs `scope` (`admin` may use every route). */
export function allows(p: Principal, scope: Scope): boolean {
  return p.scopes.includes(scope) || p.scopes.includes('admin');
}

/**
 * The server's view of the tokens file: re-read when the file changes, so `msb token add|rm` takes effect on
 * running servers without a restart.
 */
export class TokenVerifier {
  private entries: { name: string; hash: Buffer; scopes: Scope[] }[] = [];
  private seen = '';

  constructor(private readonly file: string) {}

  private async refresh(): Promise<void> {
    const s = await stat(this.file).catch(() => undefined);
    const version = s ? `${s.mtimeMs}:${s.size}:${s.ino}` : 'absent';
    if (version === this.seen) return;
    const data = await readTokenFile(this.file);
    this.entries = data.tokens.map((t) => ({
      name: t.name,
      hash: Buffer.from(t.hash.replace(/^sha256:/, ''), 'hex'),
      scopes: t.scopes,
    }));
    this.seen = version;
  }

  /**
   * Refuses a tokens file that would make the server answer every request 401: one that does not exist, cannot be
   * read or parsed, or holds no token (`MSB_API_TOKENS`, naming the file and how to make one).
   */
  async check(): Promise<void> {
    const how = `create one with: msb token add NAME --scopes read,enqueue --tokens ${this.file}`;
    const s = await stat(this.file).catch(() => undefined);
    if (!s)
      throw new ApiError('MSB_API_TOKENS', `tokens file ${this.file} does not exist (${how})`, { path: this.file });
    await this.refresh();
    if (this.entries.length === 0)
      throw new ApiError('MSB_API_TOKENS', `tokens file ${this.file} holds no token (${how})`, { path: this.file });
  }

  /** The principal of `token`, or undefined. Every entry is compared, each in constant time. */
  async verify(token: string): Promise<Principal | undefined> {
    await this.refresh();
    const h = hashOf(token);
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (e.hash.length === h.length && timingSafeEqual(e.hash, h) && !found)
        found = { name: e.name, scopes: e.scopes };
    }
    return found;
  }
}
