// Test double (test/ only): makes `onnxruntime-node` unresolvable in this process, as on a machine where the
// optional dependency is not installed. Loaded with `node --import`.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier === 'onnxruntime-node') {
    const err = new Error("Cannot find package 'onnxruntime-node'");
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`)}`,
);
