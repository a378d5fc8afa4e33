import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { send } from '../../harness/traffic.js';

export const password = 'correct horse battery staple';

/** Registers a fresh user and logs in through a running server (a cluster or an in-process app). */
export async function signUp(
  url: string,
  prefix: string,
): Promise<{ email: string; token: string; auth: Record<string, string> }> {
  const email = `${prefix}-${randomUUID()}@example.test`;
  const created = await send(
    url,
    { method: 'POST', path: '/api/users', json: { email, password, name: prefix } },
    { timeoutMs: 10_000 },
  );
  assert.equal(created.status, 201, `register: ${created.error ?? created.body}`);
  const login = await send(
    url,
    { method: 'POST', path: '/api/login', json: { email, password } },
    { timeoutMs: 10_000 },
  );
  assert.equal(login.status, 200, `login: ${login.error ?? login.body}`);
  const token = String((JSON.parse(login.body) as { token: unknown }).token);
  return { email, token, auth: { Authorization: `Bearer ${token}` } };
}
