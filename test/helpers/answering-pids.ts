import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import type { ClusterProcess } from '../../harness/cluster-process.js';
import { send } from '../../harness/traffic.js';

const paths = ['/healthz', '/api/me'] as const;

/**
 * Sends requests on fresh connections, alternating /healthz and /api/me (as the user of `token`), until each worker
 * in `pids` has answered both paths, or `maxRequests` were sent; returns the paths each answering pid answered.
 * Which worker takes a new connection is the kernel's choice (reuseport hashes each connection to one of every
 * worker's sockets), so a fixed number of requests proves nothing: 8 land on a single worker once in 128 runs. Asking
 * until each has answered, with a bound it takes a broken spread to reach, asks what the test means to.
 */
export async function pathsByPid(
  cluster: ClusterProcess,
  pids: readonly number[],
  token: string,
  maxRequests = 96,
): Promise<Map<number, Set<string>>> {
  const answered = new Map<number, Set<string>>();
  const done = () => pids.every((pid) => answered.get(pid)?.size === paths.length);
  for (let sent = 0; sent < maxRequests && !done(); ) {
    // A batch at a time, then its request lines: workers may buffer those for LOG_REQUEST_FLUSH_MS.
    const batch: { id: string; path: string }[] = [];
    for (const end = Math.min(maxRequests, sent + 8); sent < end; sent++) {
      const id = `lifecycle-${randomUUID()}`;
      const path = paths[sent % paths.length]!;
      // A connection of its own for each request: each one is a new `accept`.
      const answer = await send(
        cluster.url,
        { path, headers: { Authorization: `Bearer ${token}` } },
        { requestId: id, timeoutMs: 10_000 },
      );
      assert.equal(answer.status, 200, `${path}: ${answer.error ?? answer.body}`);
      batch.push({ id, path });
    }
    for (const { id, path } of batch) {
      const line = await cluster.waitForLog((l) => l.msg === 'request' && l['requestId'] === id, 5000);
      const pid = Number(line.pid);
      answered.set(pid, (answered.get(pid) ?? new Set()).add(path));
    }
  }
  return answered;
}

/** What `pathsByPid` returns when every one of `pids` answered both paths, and no other process did. */
export const everyPathBy = (pids: readonly number[]): Map<number, Set<string>> =>
  new Map(pids.map((pid) => [pid, new Set(paths)]));
