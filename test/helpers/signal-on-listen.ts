import cluster from 'node:cluster';
import net from 'node:net';

/*
 * Loaded into the cluster's primary with `node --require`: the primary sends itself a signal the moment one of its
 * servers starts listening on a given port, before the server's own 'listening' listeners run. The process catches
 * the signal at once and handles it on a later turn of its event loop, so whatever those listeners set in motion
 * (the rest of the start) runs with the signal caught and not yet handled: a moment a test cannot hit from outside.
 *
 * SIGNAL_ON_LISTEN_PORT: the port; SIGNAL_ON_LISTEN: the signal (default SIGINT).
 */
const port = Number(process.env['SIGNAL_ON_LISTEN_PORT']);
const signal = (process.env['SIGNAL_ON_LISTEN'] ?? 'SIGINT') as NodeJS.Signals;
if (cluster.isPrimary && Number.isInteger(port) && port > 0) {
  const emit = net.Server.prototype.emit as (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean;
  let sent = false;
  net.Server.prototype.emit = function (this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
    const address = this.address();
    if (!sent && event === 'listening' && typeof address === 'object' && address?.port === port) {
      sent = true;
      process.kill(process.pid, signal);
    }
    return emit.call(this, event, ...args);
  } as typeof net.Server.prototype.emit;
}
