import { Client } from 'undici';
import { dispatchRequest } from './connections.js';
import type { Credential } from './credentials.js';
import { socketErrorCode } from './errors.js';
import { loginBody, tokenOf } from './api.js';
import { bearer, jsonHeaders } from './flows.js';
import type { ScenarioFile } from './scenario-spec.js';

export class SetupError extends Error {}

/**
 * Logs in `count` seeded users before the measured run (like k6's setup()), 4 at a time on connections of
 * their own: the `me` scenario measures /api/me, not the password hash. Returns their Authorization headers.
 */
export async function openSessions(
  origin: string,
  basePath: string,
  file: ScenarioFile,
  credentials: readonly Credential[],
  count: number,
): Promise<string[][]> {
  const wanted = Math.min(count, credentials.length);
  const sessions: string[][] = [];
  const failures = new Map<string, number>();
  const login = file.requests.login;
  let next = 0;
  const worker = async () => {
    const client = new Client(origin, { pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
    try {
      while (next < wanted) {
        const user = credentials[next++]!;
        const body = loginBody(user);
        const reply = await dispatchRequest(
          client,
          { path: basePath + login.path, method: login.method, headers: jsonHeaders, body },
          true,
        );
        const token = tokenOf(reply.status, login.expectStatus, reply.body);
        if (token) sessions.push(bearer(token));
        else {
          const why = reply.error ? socketErrorCode(reply.error) : `HTTP ${reply.status}`;
          failures.set(why, (failures.get(why) ?? 0) + 1);
        }
      }
    } finally {
      await client.destroy().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, wanted) }, worker));
  if (sessions.length === 0) {
    const why = [...failures].map(([reason, n]) => `${reason} x${n}`).join(', ');
    throw new SetupError(
      `could not log in any seeded user at ${origin}${basePath}${login.path} (${why}): is the server up, and were these users seeded into its database?`,
    );
  }
  return sessions;
}
