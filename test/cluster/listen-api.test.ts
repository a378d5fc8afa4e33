import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { loadConfig } from '../../server/config/load-config.js';
import { listenApi, type ApiListener } from '../../server/listening/listen-api.js';
import { freePort } from '../../harness/free-port.js';

/*
 * How fast a busy worker takes in new connections. libuv accepts one connection per listening socket per event-loop
 * iteration, so connections that arrive while the loop is busy are taken in one per iteration per socket. The test
 * holds this process's loop (as 500 busy keep-alive connections would), lets a separate process open connections
 * meanwhile (the kernel completes them), then counts the connections accepted in each loop iteration after it.
 */

const burst = 64;

/** Opens `burst` connections to the port once told to on stdin, prints "open", keeps them until stdin closes. */
const opener = `
const net = require('node:net');
console.log('ready');
process.stdin.once('data', () => {
  let open = 0;
  for (let i = 0; i < ${burst}; i++) net.connect(Number(process.argv[1]), '127.0.0.1', () => { if (++open === ${burst}) console.log('open'); }).on('error', () => {});
});
process.stdin.on('end', () => process.exit(0));
`;

/** The sizes of the batches of 'connection' events, one batch per loop iteration (setImmediate runs after each poll). */
function acceptBatches(server: Server): number[] {
  const batches: number[] = [];
  let current = 0;
  server.on('connection', () => {
    if (current++ === 0)
      setImmediate(() => {
        batches.push(current);
        current = 0;
      });
  });
  return batches;
}

/** Connections the kernel has completed and holds for the port's listening sockets (their Recv-Q in `ss`). */
function queued(port: number): number {
  const out = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[1]), 0);
}

/** Blocks this thread, and so its event loop, until the kernel holds `count` connections for the port (at most 20 s). */
function blockLoopUntilQueued(port: number, count: number): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; queued(port) < count && waited < 20_000; waited += 20) Atomics.wait(pause, 0, 0, 20);
}

async function acceptWhileBusy(listenersPerWorker: number): Promise<number[]> {
  const port = await freePort();
  const server = createServer((_req, res) => res.end('{}'));
  const batches = acceptBatches(server);
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: String(port),
    HTTP_ACCEPT: 'reuseport',
    HTTP_LISTENERS_PER_WORKER: String(listenersPerWorker),
  }).http;
  const listener: ApiListener = await listenApi(server, config);
  const child = spawn(process.execPath, ['-e', opener, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await once(child.stdout, 'data');
    child.stdin.write('go\n');
    // The other process connects while this loop is blocked; the kernel completes every handshake meanwhile.
    blockLoopUntilQueued(port, burst);
    while (batches.reduce((a, b) => a + b, 0) < burst) await new Promise((resolve) => setImmediate(resolve));
    const seen = [...batches];
    // Every connection accepted is served by the one HTTP server.
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
    return seen;
  } finally {
    child.stdin.end();
    server.closeAllConnections();
    await listener.close();
  }
}

describe('listenApi: accepting connections while the event loop is busy', function () {
  this.timeout(30_000);

  it('one socket takes in one connection per loop iteration', async () => {
    const batches = await acceptWhileBusy(1);
    assert.ok(
      batches.every((size) => size === 1),
      JSON.stringify(batches),
    );
    assert.equal(batches.length, burst);
  });

  it('HTTP_LISTENERS_PER_WORKER sockets take in up to that many per iteration', async () => {
    const batches = await acceptWhileBusy(16);
    console.log(`      accepted per loop iteration: ${JSON.stringify(batches)}`);
    // 64 connections spread by the kernel over 16 sockets: every socket has some (all but surely), so the first
    // iteration takes 16 and the burst is in within a handful of iterations instead of 64.
    assert.ok(batches[0]! > 1 && batches[0]! <= 16, JSON.stringify(batches));
    assert.ok(batches.length < burst / 2, JSON.stringify(batches));
  });
});
