import type { components, operations } from './generated/api-types.js';
import type { Credential } from './credentials.js';

/*
 * The API as the load tester speaks it, typed from the OpenAPI document (generated/api-types.ts is generated from
 * docs/openapi.json by `npm run openapi`): a change to the contract that breaks the tester fails the type-check.
 */

export type LoginRequest = operations['login']['requestBody']['content']['application/json'];
export type Session = components['schemas']['Session'];
export type Problem = components['schemas']['Problem'];

/** The body of POST /api/login for a seeded user. */
export function loginBody(credential: Credential): Buffer {
  const body: LoginRequest = { email: credential.email, password: credential.password };
  return Buffer.from(JSON.stringify(body));
}

/** The token of a successful login reply, or undefined. */
export function tokenOf(status: number, expected: number, body: string | undefined): string | undefined {
  if (status !== expected || !body) return undefined;
  try {
    const token = (JSON.parse(body) as Partial<Session>).token;
    return typeof token === 'string' && token !== '' ? token : undefined;
  } catch {
    return undefined;
  }
}

/** The API's error code of a problem body (`overloaded`, `invalid_credentials`...), or undefined. */
export function problemCode(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const code = (JSON.parse(body) as Partial<Problem>).error;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
