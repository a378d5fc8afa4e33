import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/*
 * Ports for the servers a test starts and only later binds (clusters, MariaDB, Prometheus). A port asked of the
 * kernel with bind(0) and released comes from its ephemeral range (net.ipv4.ip_local_port_range), the range it also
 * draws from for other bind(0) calls and for client connections' source ports: until the server binds it, it can be
 * handed out again, and two clusters started together once listened on one port, or a cluster's workers failed with
 * EADDRINUSE against another's metrics port until the primary gave up on them as a crash loop.
 *
 * So ports are dealt from outside that range, where the kernel never hands one out by itself: each at most once per
 * process (a counter, from a start that differs per process so that two test processes rarely meet), and only one
 * that nothing listens on now.
 */

const lowest = 10_000;
const highest = 65_535;

function ephemeralRange(): readonly [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // Not Linux: the IANA dynamic range, which other systems use for their ephemeral ports.
  }
  return [49_152, 65_535];
}

/** Every port outside the ephemeral range, from `lowest` up. */
function candidatePorts(): readonly number[] {
  const [low, high] = ephemeralRange();
  const ports: number[] = [];
  for (let port = lowest; port <= highest; port++) if (port < low || port > high) ports.push(port);
  return ports;
}

const candidates = candidatePorts();
// The one allocator of this process: a port is dealt at most once per process.
let next = candidates.length > 0 ? (process.pid * 7919) % candidates.length : 0;

function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function kernelPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from the kernel');
  return address.port;
}

/** A loopback port nothing listens on, outside the kernel's ephemeral range, never dealt before in this process. */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < candidates.length; tried++) {
    const port = candidates[next]!;
    next = (next + 1) % candidates.length;
    if (await bindable(port)) return port;
  }
  // The ephemeral range covers every port from `lowest` up: only the kernel's choice is left.
  return kernelPort();
}

/** The kernel's ephemeral range on this machine, for tests of `freePort`. */
export function ephemeralPorts(): { readonly low: number; readonly high: number } {
  const [low, high] = ephemeralRange();
  return { low, high };
}
