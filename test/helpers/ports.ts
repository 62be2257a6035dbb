/**
 * Ports for test servers that a test kills and starts again on the same port (Redis restarts, cluster nodes,
 * Sentinel data nodes). They come from below the kernel's ephemeral range (Linux default 32768–60999): a port from
 * that range, freed by a killed server, can be taken meanwhile as the local port of any outgoing connection (a
 * client reconnecting to another test's Redis), and the restart then finds it in use. Test files run in parallel
 * processes, so the pick is random and checked by binding it.
 */
import net from 'node:net';

const LOW = 10_000;
/** With a cluster's bus port (port + 10 000) still below 32768. */
const HIGH = 22_767;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A free port below the ephemeral range; with `clusterBus`, port + 10 000 is free too. */
export async function freeServerPort(options: { clusterBus?: boolean } = {}): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if ((await bindable(port)) && (!options.clusterBus || (await bindable(port + 10_000)))) return port;
  }
  throw new Error(`no free port in ${LOW}..${HIGH}`);
}
