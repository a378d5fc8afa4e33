import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:net';
import { ephemeralPorts, freePort } from '../../harness/free-port.js';

describe('harness: free ports', () => {
  it('deals ports outside the kernel’s ephemeral range, each once, that a server can then bind', async () => {
    const { low, high } = ephemeralPorts();
    const ports = await Promise.all(Array.from({ length: 200 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length, 'a port was dealt twice');
    const inRange = ports.filter((port) => port >= low && port <= high);
    assert.deepEqual(inRange, [], `ports the kernel may hand out itself (ephemeral range ${low}–${high})`);
    const servers: Server[] = [];
    try {
      for (const port of ports) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve);
        });
        servers.push(server);
      }
    } finally {
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });

  it('skips a port something listens on', async () => {
    const { low, high } = ephemeralPorts();
    const outside = (port: number) => port <= 65_535 && (port < low || port > high);
    // Ports are dealt in order: hold the one after the last dealt, so it would be dealt next if listening did not count.
    let last = await freePort();
    while (!outside(last + 1)) last = await freePort();
    const held = last + 1;
    const server = createServer();
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ port: held, host: '127.0.0.1' }, () => resolve(true));
    });
    try {
      assert.notEqual(await freePort(), held);
    } finally {
      if (listening) await new Promise((resolve) => server.close(resolve));
    }
  });
});
