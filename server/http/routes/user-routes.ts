import type Router from '@koa/router';
import type { PasswordHasher } from '../../auth/password-hasher.js';
import { EmailTakenError, publicUser, type User, type UserStore } from '../../auth/user-store.js';
import type { AppState } from '../app-state.js';
import { httpErrors } from '../http-error.js';
import type { IdempotentResponder, Outcome } from '../idempotent-responder.js';
import { readJsonBody } from '../json-body.js';
import { registerSchema } from '../schemas.js';
import { validate } from '../validate.js';

const registered = (user: User): Outcome => ({ status: 201, body: publicUser(user) });

export function userRoutes(
  router: Router<AppState>,
  deps: { users: UserStore; hasher: PasswordHasher; idempotency: IdempotentResponder; bodyLimitBytes: number },
): void {
  router.post('/api/users', async (ctx) => {
    const input = validate(registerSchema, await readJsonBody(ctx, deps.bodyLimitBytes));
    await deps.idempotency.respond(ctx, 'register', input, async (record) => {
      const passwordHash = await deps.hasher.hash(input.password);
      try {
        const user = await deps.users.create(
          { email: input.email, name: input.name, passwordHash },
          {
            signal: ctx.state.signal,
            alsoInTransaction: record && ((connection, created) => record(connection, registered(created))),
          },
        );
        return registered(user);
      } catch (error) {
        if (error instanceof EmailTakenError) throw httpErrors.emailTaken();
        throw error;
      }
    });
  });
}
