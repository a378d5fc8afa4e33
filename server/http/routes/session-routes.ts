import type { Middleware } from 'koa';
import { OverloadedError } from '../../admission/admission-limiter.js';
import { hashingRefusal } from '../../auth/password-hasher.js';
import type { LoginCandidate } from '../../auth/login-lookup.js';
import type { NewSession, SessionStore } from '../../auth/session-store.js';
import { parseBearerToken } from '../../auth/session-token.js';
import { publicUser, type UserWithPassword } from '../../auth/user-store.js';
import type { AppState } from '../app-state.js';
import { jsonBodyProblems, outcomeUnknown, unavailable } from '../route-problems.js';
import type { RouteDeps, RouteSpec } from '../route-spec.js';
import { userExample } from '../response-schemas.js';
import { httpErrors } from '../http-error.js';
import type { Outcome } from '../idempotent-responder.js';
import { readJsonBody } from '../json-body.js';
import { loginSchema } from '../schemas.js';
import { validate } from '../validate.js';

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
  deps: RouteDeps,
  candidate: LoginCandidate,
  email: string,
  password: string,
  client: string,
  signal: AbortSignal | undefined,
): Promise<UserWithPassword | undefined> {
  const matches = await deps.hasher.verifyAdmitted(password, async () => {
    const reservation = await deps.throttle.reserve(email, client, signal);
    if (reservation.retryAfterSeconds > 0) throw httpErrors.tooManyAttempts(reservation.retryAfterSeconds);
    // Unknown emails pay for a full hash too, so timing does not reveal which emails exist.
    return candidate.user?.passwordHash ?? deps.hasher.decoyHash;
  });
  return matches ? candidate.user : undefined;
}

/** POST /api/login: email and password for a new session. */
function login(deps: RouteDeps): Middleware<AppState> {
  return async (ctx) => {
    // Under a flood, shed first: a login the hasher would refuse anyway costs neither a body parse nor a query.
    // Its body is left for node:http to discard, which keeps the connection usable.
    if (deps.hasher.saturated()) throw new OverloadedError('queue_full', hashingRefusal);
    const input = validate(loginSchema, await readJsonBody(ctx, deps.bodyLimitBytes));
    const { signal } = ctx.state;
    // A replay answers what the first login answered without checking a password, so it counts no attempt.
    await deps.idempotency.respond(ctx, 'login', input, async (record) => {
      // A blocked client is refused before it waits for the hasher: guessing then costs the server one indexed read
      // (the same one that finds the account), no lock and no hashing slot. Blocks that start while this one waits
      // are caught when its attempt is counted.
      // Any failure to *look up* the user is a 503 from the boundary; only a wrong answer is a 401.
      const candidate = await deps.logins.find(input.email, ctx.ip, signal);
      if (candidate.blockedFor > 0) throw httpErrors.tooManyAttempts(candidate.blockedFor);
      const user = await checkPassword(deps, candidate, input.email, input.password, ctx.ip, signal);
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
      const session = await deps.sessions.create(user.id, candidate.checkedAt, {
        signal,
        alsoInTransaction: record && ((connection, created) => record(connection, loggedIn(created))),
      });
      return loggedIn(session);
    });
  };
}

export const sessionRoutes: readonly RouteSpec[] = [
  {
    method: 'post',
    path: '/api/login',
    operation: {
      operationId: 'login',
      tags: ['sessions'],
      summary: 'Log in: exchange email and password for a bearer token',
      description: 'With an Idempotency-Key, a retry gets the same session (the same token) instead of a second one.',
      idempotencyKey: true,
      requestBody: { schema: loginSchema, example: { email: 'ada@example.com', password: 'analytical-engine' } },
      responses: [
        {
          status: 200,
          description: 'A new session',
          schema: 'Session',
          example: {
            token: 'q2o8n6Qx0m3X2b5lW2JtF6y1rN8pZ4cV7aK9sD0fG1h',
            expiresAt: '2026-12-01T14:00:00.000Z',
            user: userExample,
          },
        },
      ],
      problems: [
        ...jsonBodyProblems,
        {
          status: 401,
          codes: ['invalid_credentials'],
          description: 'Wrong email or password (only ever for wrong credentials)',
        },
        {
          status: 429,
          codes: ['too_many_attempts'],
          description: 'Too many failed logins for this account (from this client); wait Retry-After seconds',
          headers: ['Retry-After'],
        },
        unavailable(),
        outcomeUnknown,
      ],
    },
    handlers: (deps) => [login(deps)],
  },
  {
    method: 'get',
    path: '/api/me',
    operation: {
      operationId: 'me',
      tags: ['sessions'],
      summary: 'The logged-in user',
      bearer: true,
      responses: [{ status: 200, description: 'The user of the session', schema: 'User', example: userExample }],
      problems: [unavailable()],
    },
    handlers: (deps) => [
      requireSession(deps.sessions),
      (ctx) => {
        ctx.body = ctx.state.user;
      },
    ],
  },
  {
    method: 'post',
    path: '/api/logout',
    operation: {
      operationId: 'logout',
      tags: ['sessions'],
      summary: 'Revoke the session',
      bearer: true,
      responses: [{ status: 204, description: 'Revoked' }],
      problems: [unavailable(), outcomeUnknown],
    },
    handlers: (deps) => [
      requireSession(deps.sessions),
      async (ctx) => {
        await deps.sessions.revoke(ctx.state.token ?? '', ctx.state.signal);
        ctx.status = 204;
      },
    ],
  },
];
