import { afterEach } from 'node:test';

/** Anything a test opens and must close: a client, a worker, a test server. */
export interface Closable {
  close(): Promise<void>;
}

/**
 * Registers an `afterEach` (call it at the top level of a test file) that closes what each test opened, last opened
 * first: a worker before the client that enqueued to it, so nothing is left holding the next test's Redis or store.
 * Returns `track`, which records a thing and returns it.
 */
export function closedAfterEach(): <T extends Closable>(x: T) => T {
  const open: Closable[] = [];
  afterEach(async () => {
    for (const x of open.splice(0).reverse()) await x.close();
  });
  return (x) => {
    open.push(x);
    return x;
  };
}
