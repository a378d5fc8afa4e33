import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/** The operations that take an Idempotency-Key. A key belongs to one of them: the same key on another is another key. */
export type IdempotentOperation = 'register' | 'login';

/**
 * What is derived from a client's Idempotency-Key; the key itself is never stored. Stored are its SHA-256 (to find
 * the row), an HMAC of the request's input (to tell a retry from another request, without keeping the input: a login's
 * holds a password) and the outcome encrypted with AES-256-GCM (a login's holds a session token, and tokens are never
 * stored in clear). The HMAC and encryption keys come from the Idempotency-Key through HKDF, so only a client holding
 * the key can have its outcome read back, and the row says nothing to anyone else: an unguessable key (a UUID) is
 * what protects it.
 */
export interface KeyMaterial {
  readonly keyHash: Buffer;
  fingerprint(input: Readonly<Record<string, unknown>>): Buffer;
  seal(plain: string): Buffer;
  /** The plaintext of `seal`; throws when the sealed value is not this key's (or was altered). */
  open(sealed: Buffer): string;
}

const version = 'v1';
const ivLength = 12;
const tagLength = 16;

/** The same input in any key order gives the same bytes. */
function canonical(input: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(
    Object.keys(input)
      .sort()
      .map((name) => [name, input[name]]),
  );
}

export function deriveKeyMaterial(operation: IdempotentOperation, key: string): KeyMaterial {
  const keyHash = createHash('sha256').update(`idempotency-key/${version}/${operation}\u0000${key}`).digest();
  const derive = (purpose: string) =>
    Buffer.from(hkdfSync('sha256', key, `idempotency-key/${version}`, `${operation}/${purpose}`, 32));
  const fingerprintKey = derive('fingerprint');
  const responseKey = derive('response');
  return {
    keyHash,
    fingerprint: (input) => createHmac('sha256', fingerprintKey).update(canonical(input)).digest(),
    seal(plain) {
      const iv = randomBytes(ivLength);
      const cipher = createCipheriv('aes-256-gcm', responseKey, iv);
      // Bound to its row: a sealed outcome copied under another key hash does not open.
      cipher.setAAD(keyHash);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]);
    },
    open(sealed) {
      const decipher = createDecipheriv('aes-256-gcm', responseKey, sealed.subarray(0, ivLength));
      decipher.setAAD(keyHash);
      decipher.setAuthTag(sealed.subarray(ivLength, ivLength + tagLength));
      return Buffer.concat([decipher.update(sealed.subarray(ivLength + tagLength)), decipher.final()]).toString('utf8');
    },
  };
}
