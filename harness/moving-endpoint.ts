import { connect, createServer, type Server, type Socket } from 'node:net';

/*
 * A database endpoint that moves, as a managed database's cluster endpoint or DNS name moves at a failover: new
 * connections go to whichever server it points at now; connections already open stay on the server they reached,
 * as they do in real life (until that server closes them, or dies).
 */

export interface MovingEndpoint {
  readonly port: number;
  /** Where new connections go from now on; `undefined`: nowhere (they are refused, as while no primary is elected). */
  moveTo(port: number | undefined): void;
  target(): number | undefined;
  /** Connections open through it, by the server port they reached. */
  openConnections(): Map<number, number>;
  close(): Promise<void>;
}

export async function startMovingEndpoint(initial: number | undefined): Promise<MovingEndpoint> {
  let target = initial;
  const pairs = new Set<{ client: Socket; server: Socket; port: number }>();
  const listener: Server = createServer((client) => {
    if (target === undefined) {
      client.destroy();
      return;
    }
    const port = target;
    const server = connect({ host: '127.0.0.1', port });
    const pair = { client, server, port };
    pairs.add(pair);
    client.pipe(server);
    server.pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('moving endpoint: no port');
  return {
    port: address.port,
    moveTo(port) {
      target = port;
    },
    target: () => target,
    openConnections() {
      const byPort = new Map<number, number>();
      for (const { port } of pairs) byPort.set(port, (byPort.get(port) ?? 0) + 1);
      return byPort;
    },
    async close() {
      for (const { client, server } of pairs) {
        client.destroy();
        server.destroy();
      }
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}
