import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { StoreError } from './errors.js';
import type { ModelSource, SourceFile } from './storage.js';

/** True when `child` is `parent` or inside it (both absolute, resolved). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

function localFile(rel: string, real: string, size: number): SourceFile {
  return { rel, kind: 'file', size, localPath: real, open: () => createReadStream(real) };
}

/**
 * Resolves a local source (file or directory) into the files and directories to publish, refusing symbolic links
 * that lead out of the source's own tree (the source file's directory, or the source directory itself): a crafted
 * `model.onnx -> /etc/shadow` must not end up served. Links inside the tree are followed (their content is copied).
 */
export async function resolveLocalSource(source: string): Promise<ModelSource> {
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
  if (top.isFile()) return { display: abs, kind: 'file', entries: [localFile('', real, top.size)] };
  if (!top.isDirectory()) {
    throw new StoreError('MSB_STORE_BAD_SOURCE', `source ${abs} is neither a file nor a directory`, { path: abs });
  }
  const entries: SourceFile[] = [];
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
        entries.push({
          rel: r,
          kind: 'dir',
          size: 0,
          open: () => {
            throw new Error(`${r} is a directory`);
          },
        });
        await walk(target, r);
      } else if (s.isFile()) {
        entries.push(localFile(r, target, s.size));
      } else {
        throw new StoreError('MSB_STORE_BAD_SOURCE', `${p} is neither a file nor a directory`, { path: p });
      }
    }
  };
  await walk(real, '');
  return { display: abs, kind: 'dir', entries };
}

/**
 * Resolves a source given by the user. Today: a local path (a `file://` URI included); object-store and https
 * sources are resolved by the jobs' source cache before they reach the store.
 */
export function resolveSource(source: string): Promise<ModelSource> {
  if (source.startsWith('file://')) return resolveLocalSource(new URL(source).pathname);
  return resolveLocalSource(source);
}

/** The sibling of a local `.xml` OpenVINO graph: its `.bin` weights, when they exist. */
export function siblingPath(source: ModelSource, from: RegExp, to: string): string | undefined {
  const file = source.entries[0];
  if (source.kind !== 'file' || file?.localPath === undefined || !from.test(source.display)) return undefined;
  return source.display.replace(from, to);
}
