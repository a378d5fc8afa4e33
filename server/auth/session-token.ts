import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, base64url: 43 characters. */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Tokens carry 256 bits of entropy, so a fast hash is enough: no one can guess their way to a preimage. */
export function hashSessionToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

const bearerPattern = /^Bearer ([A-Za-z0-9_-]{43})$/;

/** The token from an `Authorization: Bearer <token>` header, or undefined for anything else. */
export function parseBearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : bearerPattern.exec(header)?.[1];
}
