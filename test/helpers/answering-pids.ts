import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { ClusterProcess } from '../../harness/cluster-process.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request on a fresh TCP connection (no keep-alive pool), so each one is a new `accept` in the primary. */
export function rawRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: init.method ?? 'GET', headers: init.headers, agent: false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Sends `count` requests on fresh connections with known request ids; returns the worker pids that answered. */
export async function answeringPids(cluster: ClusterProcess, count: number, token: string): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < count; i++) {
    const id = `lifecycle-${randomUUID()}`;
    const path = i % 2 === 0 ? '/healthz' : '/api/me';
    const res = await rawRequest(`${cluster.url}${path}`, {
      headers: { 'X-Request-Id': id, Authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200, `${path}: ${res.body}`);
    const line = await cluster.waitForLog((l) => l.msg === 'request' && l['requestId'] === id, 5000);
    pids.add(Number(line.pid));
  }
  return pids;
}
