import type Router from '@koa/router';
import type { PasswordHasher } from '../../auth/password-hasher.js';
import { EmailTakenError, publicUser, type UserStore } from '../../auth/user-store.js';
import type { AppState } from '../app-state.js';
import { httpErrors } from '../http-error.js';
import { readJsonBody } from '../json-body.js';
import { registerSchema } from '../schemas.js';
import { validate } from '../validate.js';

export function userRoutes(
  router: Router<AppState>,
  deps: { users: UserStore; hasher: PasswordHasher; bodyLimitBytes: number },
): void {
  router.post('/api/users', async (ctx) => {
    const input = validate(registerSchema, await readJsonBody(ctx, deps.bodyLimitBytes));
    const passwordHash = await deps.hasher.hash(input.password);
    try {
      const user = await deps.users.create(
        { email: input.email, name: input.name, passwordHash },
        { signal: ctx.state.signal },
      );
      ctx.status = 201;
      ctx.body = publicUser(user);
    } catch (error) {
      if (error instanceof EmailTakenError) throw httpErrors.emailTaken();
      throw error;
    }
  });
}
