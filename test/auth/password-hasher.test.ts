import assert from 'node:assert/strict';
import { createAdmissionLimiter, OverloadedError } from '../../server/admission/admission-limiter.js';
import { createPasswordHasher } from '../../server/auth/password-hasher.js';
import { hashSessionToken, newSessionToken, parseBearerToken } from '../../server/auth/session-token.js';

describe('password hasher (scrypt)', () => {
  it('verifies the right password and rejects a wrong one', async () => {
    const hasher = await createPasswordHasher({ cost: 10 });
    const stored = await hasher.hash('correct horse');
    assert.match(stored, /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await hasher.verify('correct horse', stored), true);
    assert.equal(await hasher.verify('correct horsE', stored), false);
  });

  it('salts every hash', async () => {
    const hasher = await createPasswordHasher({ cost: 10 });
    assert.notEqual(await hasher.hash('same'), await hasher.hash('same'));
  });

  it('reads the cost from the stored hash, so old hashes verify after the cost changes', async () => {
    const old = await createPasswordHasher({ cost: 10 });
    const stored = await old.hash('pw-123456');
    const current = await createPasswordHasher({ cost: 11 });
    assert.equal(await current.verify('pw-123456', stored), true);
    assert.equal(current.needsRehash(stored), true);
    assert.equal(old.needsRehash(stored), false);
  });

  it('treats a malformed stored hash as a mismatch, not an exception', async () => {
    const hasher = await createPasswordHasher({ cost: 10 });
    for (const bad of ['', 'plain', '$scrypt$ln=99,r=8,p=1$AA==$AA==', '$scrypt$ln=10,r=8,p=1$AA==$AA==']) {
      assert.equal(await hasher.verify('x', bad), false, bad);
    }
  });

  it('runs the look-up of verifyAdmitted inside the hashing slot, and never when the slot is refused', async () => {
    const limiter = createAdmissionLimiter({ concurrency: 1, maxQueue: 0, maxWaitMs: 1000 });
    const hasher = await createPasswordHasher({ cost: 10, limiter });
    const stored = await hasher.hash('correct horse');
    let activeDuringLookUp = -1;
    const lookUp = async () => {
      activeDuringLookUp = limiter.state().active;
      return stored;
    };
    assert.equal(await hasher.verifyAdmitted('correct horse', lookUp), true);
    assert.equal(activeDuringLookUp, 1, 'the look-up ran holding the slot');
    assert.equal(await hasher.verifyAdmitted('correct horsE', lookUp), false);

    let release: () => void = () => undefined;
    const held = limiter.run(() => new Promise<void>((resolve) => (release = resolve)));
    activeDuringLookUp = -1;
    await assert.rejects(hasher.verifyAdmitted('correct horse', lookUp), OverloadedError);
    assert.equal(activeDuringLookUp, -1, 'a refused verification never looked up');
    release();
    await held;
  });

  it('has a decoy hash that never matches', async () => {
    const hasher = await createPasswordHasher({ cost: 10 });
    assert.equal(await hasher.verify('', hasher.decoyHash), false);
    assert.equal(hasher.needsRehash(hasher.decoyHash), false);
  });
});

describe('session tokens', () => {
  it('are 256-bit base64url values stored only as a SHA-256', () => {
    const token = newSessionToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(hashSessionToken(token).length, 32);
    assert.notEqual(newSessionToken(), token);
  });

  it('accept only the Bearer scheme with a well-formed token', () => {
    const token = newSessionToken();
    assert.equal(parseBearerToken(`Bearer ${token}`), token);
    for (const header of [
      undefined,
      '',
      token,
      `bearer ${token}`,
      `Basic ${token}`,
      `Bearer  ${token}`,
      `Bearer ${token} x`,
      `Bearer ${token}=`,
    ]) {
      assert.equal(parseBearerToken(header), undefined, String(header));
    }
  });
});
