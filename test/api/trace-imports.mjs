/** Loaded with --import: prints every module URL resolved, on stderr (for the lazy-loading check). */
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(
    'export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write("loaded " + r.url + "\\n"); return r; }',
  )}`,
);
