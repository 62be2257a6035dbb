import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { syncDir } from '../atomic-file.js';

export { writeNewFile } from '../atomic-file.js';

import type { ModelSource, PlacedFiles, SourceFile, Transfer } from './storage.js';

/** fsync of a file or directory (a directory: makes a rename or create inside it durable). */
export const fsyncPath = syncDir;

/**
 * Places `source` at `dest` (a new path). `copy` asks the kernel to clone (reflink: O(1), and a private copy since
 * later writes to either side are copy-on-write) and falls back to an in-kernel copy (copy_file_range/sendfile);
 * the result is fsynced. `link` hardlinks when both are on one filesystem (O(1)); the served version then shares the
 * inode with the source, so it is only safe for files nobody rewrites in place (msb's own build outputs).
 * Returns how the file got there.
 */
export async function placeFile(source: string, dest: string, transfer: Transfer): Promise<'linked' | 'copied'> {
  if (transfer === 'link') {
    try {
      await link(source, dest);
      return 'linked';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    }
  }
  await copyFile(source, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  await fsyncPath(dest);
  return 'copied';
}

/**
 * Copies (or links) a source to `dest`, creating directories; every directory is fsynced. Local files go through
 * {@link placeFile}; others are streamed into a new file.
 */
export async function placeSource(src: ModelSource, dest: string, transfer: Transfer): Promise<PlacedFiles> {
  const placed: PlacedFiles = {};
  const put = async (e: SourceFile, to: string) => {
    if (e.localPath !== undefined) await placeFile(e.localPath, to, transfer);
    else await streamToNewFile(e.open(), to);
    placed[e.rel] = { size: e.size };
  };
  if (src.kind === 'file') {
    const e = src.entries[0];
    if (!e) throw new Error('file source without entry');
    await put(e, dest);
    return placed;
  }
  await mkdir(dest);
  const dirs = [dest];
  for (const e of src.entries) {
    const to = path.join(dest, ...e.rel.split('/'));
    if (e.kind === 'dir') {
      await mkdir(to);
      dirs.push(to);
    } else {
      await put(e, to);
    }
  }
  for (const d of dirs) await fsyncPath(d);
  return placed;
}

/** Writes a stream to a new file (fails if it exists) and fsyncs it; `onChunk` sees every chunk (hashing). */
export async function streamToNewFile(
  body: Readable,
  dest: string,
  onChunk?: (chunk: Buffer) => void,
): Promise<number> {
  const fh = await open(dest, 'wx', 0o644);
  let size = 0;
  try {
    for await (const c of body) {
      const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
      onChunk?.(chunk);
      size += chunk.length;
      let done = 0;
      while (done < chunk.length) done += (await fh.write(chunk, done, chunk.length - done)).bytesWritten;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return size;
}

/** Renames `from` to `to`; false when `to` already exists as a non-empty directory or a file (never overwrites). */
export async function renameNoReplace(from: string, to: string): Promise<boolean> {
  // rename(2) replaces an empty directory or a file silently, so look first: msb's own directories are never empty
  // (a version holds its .msb-version.json), which makes the ENOTEMPTY/EEXIST of rename itself the real guard
  // against two writers taking the same name.
  try {
    const st = await lstat(to);
    if (!st.isDirectory() || (await readdir(to)).length > 0) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    await rename(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw err;
  }
}

export async function removeTree(p: string): Promise<void> {
  await rm(p, { recursive: true, force: true });
}
