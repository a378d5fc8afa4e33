import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The seeded users (`npm run seed -- --users N` writes loadtest/credentials.json). */

export interface Credential {
  readonly email: string;
  readonly password: string;
}

export const defaultCredentialsPath = resolve(__dirname, '../../../loadtest/credentials.json');

export class CredentialsError extends Error {}

const seedHint = 'run `npm run seed -- --users N` first (or pass --credentials <file>)';

export function readCredentials(path: string): Credential[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CredentialsError(
      code === 'ENOENT'
        ? `credentials file ${path} not found: ${seedHint}`
        : `cannot read credentials file ${path}: ${String(error)}`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new CredentialsError(`credentials file ${path} is not JSON: ${seedHint}`);
  }
  const valid =
    Array.isArray(data) &&
    data.every(
      (c: unknown) =>
        typeof c === 'object' &&
        c !== null &&
        typeof (c as Credential).email === 'string' &&
        typeof (c as Credential).password === 'string',
    );
  if (!valid)
    throw new CredentialsError(`credentials file ${path} must be a JSON array of {"email", "password"}: ${seedHint}`);
  if ((data as unknown[]).length === 0)
    throw new CredentialsError(`credentials file ${path} has no users: ${seedHint}`);
  return (data as Credential[]).map(({ email, password }) => ({ email, password }));
}
