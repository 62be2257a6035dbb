import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` so that a concurrent reader sees either the old or the new content, never a mix, and a crash
 * leaves one of the two: write a temp file beside it, fsync it, rename over the target, fsync the directory.
 * The temp name starts with a dot and ends in `.msb-tmp` so repository scans recognise and clean it.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.msb-tmp`);
  try {
    await writeNewFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/** Writes `data` to a new file (fails if it exists) and fsyncs it. */
export async function writeNewFile(p: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(p, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of a directory, so a rename inside it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
