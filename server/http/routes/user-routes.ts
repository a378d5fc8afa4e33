import { EmailTakenError, publicUser, type User } from '../../auth/user-store.js';
import { httpErrors } from '../http-error.js';
import type { Outcome } from '../idempotent-responder.js';
import { readJsonBody } from '../json-body.js';
import { jsonBodyProblems, outcomeUnknown, unavailable } from '../route-problems.js';
import type { RouteSpec } from '../route-spec.js';
import { userExample } from '../response-schemas.js';
import { registerSchema } from '../schemas.js';
import { validate } from '../validate.js';

const registered = (user: User): Outcome => ({ status: 201, body: publicUser(user) });

export const userRoutes: readonly RouteSpec[] = [
  {
    method: 'post',
    path: '/api/users',
    operation: {
      operationId: 'register',
      tags: ['users'],
      summary: 'Register a user',
      description:
        'Emails are unique case-insensitively. Passwords: 8 to 1024 characters, stored only as a scrypt hash. With an Idempotency-Key, a retry registers at most once.',
      idempotencyKey: true,
      requestBody: {
        schema: registerSchema,
        example: { email: 'ada@example.com', password: 'analytical-engine', name: 'Ada Lovelace' },
      },
      responses: [{ status: 201, description: 'The user', schema: 'User', example: userExample }],
      problems: [
        ...jsonBodyProblems,
        { status: 409, codes: ['email_taken'], description: 'An account with this email already exists' },
        unavailable(),
        outcomeUnknown,
      ],
    },
    handlers: (deps) => [
      async (ctx) => {
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
      },
    ],
  },
];
