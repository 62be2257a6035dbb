import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, readdir, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { syncDir } from '../atomic-file.js';

export { writeNewFile } from '../atomic-file.js';

import { StoreError } from './errors.js';

/** fsync of a file or directory (a directory: makes a rename or create inside it durable). */
export const fsyncPath = syncDir;

/** How a file is brought into the store. */
export type Transfer = 'copy' | 'link';

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

function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/** One file of a source tree: its path relative to the tree and the real file to read. */
export interface SourceEntry {
  rel: string;
  real: string;
  kind: 'file' | 'dir';
  size: number;
}

/**
 * Resolves a source (file or directory) into the list of files and directories to publish, refusing symbolic links
 * that lead out of the source's own tree (the source file's directory, or the source directory itself): a crafted
 * `model.onnx -> /etc/shadow` must not end up served. Links inside the tree are followed (their content is copied).
 */
export async function resolveSource(source: string): Promise<{ kind: 'file' | 'dir'; entries: SourceEntry[] }> {
  const abs = path.resolve(source);
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(abs);
  } catch {
    throw new StoreError('MSB_STORE_NOT_FOUND', `source ${abs} does not exist`, { path: abs });
  }
  const treeRoot = st.isDirectory() ? await realpath(abs) : await realpath(path.dirname(abs));
  const real = await realpath(abs).catch(() => {
    throw new StoreError('MSB_STORE_NOT_FOUND', `source ${abs} is a dangling link`, { path: abs });
  });
  if (!isInside(treeRoot, real)) {
    throw new StoreError('MSB_STORE_SYMLINK', `source ${abs} is a link to ${real}, outside its directory`, {
      path: abs,
      target: real,
    });
  }
  const top = await stat(real);
  if (top.isFile()) return { kind: 'file', entries: [{ rel: '', real, kind: 'file', size: top.size }] };
  if (!top.isDirectory()) {
    throw new StoreError('MSB_STORE_BAD_SOURCE', `source ${abs} is neither a file nor a directory`, { path: abs });
  }
  const entries: SourceEntry[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const d of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      const r = rel ? `${rel}/${d.name}` : d.name;
      let target = p;
      if (d.isSymbolicLink()) {
        const dest = await realpath(p).catch(() => undefined);
        if (dest === undefined || !isInside(treeRoot, dest)) {
          throw new StoreError(
            'MSB_STORE_SYMLINK',
            `${p} is a link to ${dest ?? (await readlink(p))}, outside ${abs}`,
            {
              path: p,
              target: dest,
            },
          );
        }
        target = dest;
      }
      const s = await stat(target);
      if (s.isDirectory()) {
        entries.push({ rel: r, real: target, kind: 'dir', size: 0 });
        await walk(target, r);
      } else if (s.isFile()) {
        entries.push({ rel: r, real: target, kind: 'file', size: s.size });
      } else {
        throw new StoreError('MSB_STORE_BAD_SOURCE', `${p} is neither a file nor a directory`, { path: p });
      }
    }
  };
  await walk(real, '');
  return { kind: 'dir', entries };
}

/** Copies (or links) a resolved source to `dest`, creating directories; every directory is fsynced. */
export async function placeSource(
  src: { kind: 'file' | 'dir'; entries: SourceEntry[] },
  dest: string,
  transfer: Transfer,
): Promise<void> {
  if (src.kind === 'file') {
    const e = src.entries[0];
    if (!e) throw new Error('file source without entry');
    await placeFile(e.real, dest, transfer);
    return;
  }
  await mkdir(dest);
  const dirs = [dest];
  for (const e of src.entries) {
    const to = path.join(dest, ...e.rel.split('/'));
    if (e.kind === 'dir') {
      await mkdir(to);
      dirs.push(to);
    } else {
      await placeFile(e.real, to, transfer);
    }
  }
  for (const d of dirs) await fsyncPath(d);
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
