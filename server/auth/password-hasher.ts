import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { AdmissionLimiter } from '../admission/admission-limiter.js';

/*
 * scrypt (memory-hard, in node:crypto, no native addon) with its parameters stored in every hash, so the
 * cost can be raised later: old hashes still verify and `needsRehash` says when to upgrade them.
 * Format: $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<hash base64>
 */

/** What a login refused for overload is told (OverloadedError#detail). */
export const hashingRefusal = 'Too many logins at once; retry shortly.';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Constant-time comparison; false (never an exception) for a malformed stored hash. */
  verify(password: string, stored: string): Promise<boolean>;
  /**
   * Waits for a hashing slot, runs `lookUp` in it and verifies against the hash it returns: for work that must happen
   * right before the hash, and only once the hash is sure to run (counting a login attempt). A login refused for
   * overload (OverloadedError) never ran `lookUp`.
   */
  verifyAdmitted(password: string, lookUp: () => Promise<string>): Promise<boolean>;
  needsRehash(stored: string): boolean;
  /** True when a hash asked for now would be refused at once (OverloadedError): shed the request before costly work. */
  saturated(): boolean;
  /** A valid hash of a random password, for making unknown-email logins cost the same as real ones. */
  readonly decoyHash: string;
}

interface ScryptParams {
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

const keyLength = 32;
const saltLength = 16;
const pattern = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** params.ln,
    r: params.r,
    p: params.p,
    // scrypt needs 128·N·r bytes; Node's default cap (32 MiB) would refuse costs above 2^14.
    maxmem: 256 * 2 ** params.ln * params.r,
  };
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFKC'), salt, keyLength, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

function encode(params: ScryptParams, salt: Buffer, key: Buffer): string {
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function decode(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const match = pattern.exec(stored);
  if (!match) return undefined;
  const [, ln, r, p, salt, key] = match;
  const params = { ln: Number(ln), r: Number(r), p: Number(p) };
  if (params.ln < 1 || params.ln > 24 || params.r < 1 || params.p < 1) return undefined;
  return { params, salt: Buffer.from(salt ?? '', 'base64'), key: Buffer.from(key ?? '', 'base64') };
}

export interface PasswordHasherOptions {
  readonly cost: number;
  /** Bounds concurrent derivations; refused work throws OverloadedError (a fast 503). Unbounded without. */
  readonly limiter?: AdmissionLimiter;
}

export async function createPasswordHasher(options: PasswordHasherOptions): Promise<PasswordHasher> {
  const current: ScryptParams = { ln: options.cost, r: 8, p: 1 };
  const limited = <T>(work: () => Promise<T>) => (options.limiter ? options.limiter.run(work) : work());
  const hash = async (password: string) => {
    const salt = randomBytes(saltLength);
    return encode(current, salt, await limited(() => derive(password, salt, current)));
  };
  const check = async (password: string, stored: string, run: <T>(work: () => Promise<T>) => Promise<T>) => {
    const decoded = decode(stored);
    if (!decoded || decoded.key.length !== keyLength) return false;
    const key = await run(() => derive(password, decoded.salt, decoded.params));
    return timingSafeEqual(key, decoded.key);
  };
  // Made once at start, outside the limiter.
  const decoySalt = randomBytes(saltLength);
  const decoyHash = encode(current, decoySalt, await derive(randomBytes(32).toString('base64'), decoySalt, current));
  return {
    hash,
    decoyHash,
    verify: (password, stored) => check(password, stored, limited),
    verifyAdmitted: (password, lookUp) => limited(async () => check(password, await lookUp(), (work) => work())),
    saturated: () => options.limiter?.full() ?? false,
    needsRehash(stored) {
      const decoded = decode(stored);
      return (
        !decoded || decoded.params.ln !== current.ln || decoded.params.r !== current.r || decoded.params.p !== current.p
      );
    },
  };
}
