import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { OverloadedError } from '../../auth/admission-limiter.js';
import { hashingRefusal, type PasswordHasher } from '../../auth/password-hasher.js';
import type { LoginThrottle } from '../../auth/login-throttle.js';
import type { NewSession, SessionStore } from '../../auth/session-store.js';
import { parseBearerToken } from '../../auth/session-token.js';
import { publicUser, type UserStore, type UserWithPassword } from '../../auth/user-store.js';
import type { AppState } from '../app-state.js';
import { httpErrors } from '../http-error.js';
import type { IdempotentResponder, Outcome } from '../idempotent-responder.js';
import { readJsonBody } from '../json-body.js';
import { loginSchema } from '../schemas.js';
import { validate } from '../validate.js';

export interface SessionRouteDeps {
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly hasher: PasswordHasher;
  readonly throttle: LoginThrottle;
  readonly idempotency: IdempotentResponder;
  readonly bodyLimitBytes: number;
}

/** Puts the session's user on ctx.state, or answers 401. A database failure propagates as 503, never 401. */
export function requireSession(sessions: SessionStore): Middleware<AppState> {
  return async (ctx, next) => {
    const authorization = ctx.get('Authorization');
    const token = parseBearerToken(authorization || undefined);
    // Another scheme (Basic…) is no bearer token at all: the bare challenge, as for no credentials (RFC 6750 §3.1).
    if (!token) throw httpErrors.unauthorized(/^bearer(\s|$)/i.test(authorization));
    const user = await sessions.findUser(token, ctx.state.signal);
    if (!user) throw httpErrors.unauthorized(true);
    ctx.state.user = user;
    ctx.state.token = token;
    await next();
  };
}

/**
 * The user when the password is theirs; undefined for a wrong password or an unknown email. The attempt is counted
 * once a hashing slot is free, right before the hash: concurrent guesses cannot outrun the count, and a login shed
 * for overload (503) never touches the throttle's rows.
 */
async function checkPassword(
  deps: SessionRouteDeps,
  email: string,
  password: string,
  client: string,
  signal: AbortSignal | undefined,
): Promise<UserWithPassword | undefined> {
  let user: UserWithPassword | undefined;
  const matches = await deps.hasher.verifyAdmitted(password, async () => {
    const reservation = await deps.throttle.reserve(email, client, signal);
    if (reservation.retryAfterSeconds > 0) throw httpErrors.tooManyAttempts(reservation.retryAfterSeconds);
    // Any failure to *look up* the user is a 503 from the boundary; only a wrong answer is a 401.
    user = await deps.users.findByEmail(email, signal);
    // Unknown emails pay for a full hash too, so timing does not reveal which emails exist.
    return user?.passwordHash ?? deps.hasher.decoyHash;
  });
  return matches ? user : undefined;
}

export function sessionRoutes(router: Router<AppState>, deps: SessionRouteDeps): void {
  const authenticated = requireSession(deps.sessions);

  router.post('/api/login', async (ctx) => {
    // Under a flood, shed first: a login the hasher would refuse anyway costs neither a body parse nor a query.
    // Its body is left for node:http to discard, which keeps the connection usable.
    if (deps.hasher.saturated()) throw new OverloadedError('queue_full', hashingRefusal);
    const input = validate(loginSchema, await readJsonBody(ctx, deps.bodyLimitBytes));
    const { signal } = ctx.state;
    // A replay answers what the first login answered without checking a password, so it counts no attempt.
    await deps.idempotency.respond(ctx, 'login', input, async (record) => {
      // A blocked client is refused before it waits for the hasher: guessing then costs the server one indexed read,
      // no lock and no hashing slot. (Blocks that start while this one waits are caught when its attempt is counted.)
      const blockedFor = await deps.throttle.blockedFor(input.email, ctx.ip, signal);
      if (blockedFor > 0) throw httpErrors.tooManyAttempts(blockedFor);
      const user = await checkPassword(deps, input.email, input.password, ctx.ip, signal);
      if (!user) throw httpErrors.invalidCredentials();
      await deps.throttle.succeeded(input.email, ctx.ip, signal);
      if (deps.hasher.needsRehash(user.passwordHash)) {
        // Upgrading the hash is worth doing but never worth failing a login over: the hash itself may be refused by
        // the admission limiter (a busy worker) or the update may fail, and either only postpones it to the next login.
        try {
          await deps.users.updatePasswordHash(user.id, await deps.hasher.hash(input.password), signal);
        } catch (error) {
          ctx.state.log.warn({ err: error }, 'password rehash failed');
        }
      }
      const loggedIn = (session: NewSession): Outcome => ({
        status: 200,
        body: { token: session.token, expiresAt: session.expiresAt, user: publicUser(user) },
      });
      const session = await deps.sessions.create(user.id, {
        signal,
        alsoInTransaction: record && ((connection, created) => record(connection, loggedIn(created))),
      });
      return loggedIn(session);
    });
  });

  router.get('/api/me', authenticated, (ctx) => {
    ctx.body = ctx.state.user;
  });

  router.post('/api/logout', authenticated, async (ctx) => {
    await deps.sessions.revoke(ctx.state.token ?? '', ctx.state.signal);
    ctx.status = 204;
  });
}
