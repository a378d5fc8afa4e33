import { z } from 'zod';
import { retryAfterSeconds } from './http-error.js';
import { idempotencyKeyLength } from './idempotency-key-header.js';
import { problemJson, problemType } from './problem-details.js';
import { healthSchema, problemSchema, readySchema, sessionSchema, userSchema } from './response-schemas.js';
import { loginSchema, registerSchema } from './schemas.js';

/**
 * The API's contract as OpenAPI 3.1, built from the zod schemas the routes validate requests with and the response
 * schemas, plus, per operation, every status it can answer and the error codes behind each. Served at
 * GET /openapi.json and committed as docs/openapi.json (`npm run openapi` rewrites it; a test keeps them equal).
 */

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const headerRef = (name: string): Json => ({ $ref: `#/components/headers/${name}` });

/** Request body schemas as the client sends them (before trimming and lower-casing). */
function requestSchema(schema: z.ZodType): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Json;
  return rest;
}

const headerComponents: Record<string, Json> = {
  RequestId: {
    description: "This request's id (the load balancer's X-Request-Id when it is short and safe, else a new UUID)",
    schema: { type: 'string' },
  },
  RetryAfter: {
    description: `Seconds to wait before retrying: ${retryAfterSeconds} for a 503 or a 504; for a 409 \`idempotency_key_in_use\`, until the request holding the key is sure to have finished`,
    required: true,
    schema: { type: 'string', pattern: '^[0-9]+$' },
  },
  WWWAuthenticate: {
    description: 'RFC 6750 challenge: `Bearer`, or `Bearer error="invalid_token"`',
    required: true,
    schema: { type: 'string' },
  },
  Allow: { description: 'The methods this path accepts', required: true, schema: { type: 'string' } },
  ETag: { description: "The document's version", schema: { type: 'string' } },
};

const idempotencyKeyParameter: Json = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: [
    'Makes the request safe to retry (IETF httpapi draft "The Idempotency-Key HTTP Header Field"): a Structured Field string',
    `of ${idempotencyKeyLength.min} to ${idempotencyKeyLength.max} visible ASCII characters, new for each request and unguessable (a UUID);`,
    'the bare value without quotes is read as the same key. The same key with the same body is answered with the first outcome,',
    'status and body (refusals included, such as 409 `email_taken` or 401 `invalid_credentials`), and the operation takes effect',
    'once; the same key with another body is 422 `idempotency_key_reused`; while the first request with the key is still running,',
    '409 `idempotency_key_in_use` with Retry-After. A 5xx or a 429 is not remembered, so after one (or a timeout) a retry with',
    'the same key and body either runs the request or returns what the first one did: a 504 `outcome_unknown` is resolved this',
    'way. Keys are remembered for 24 hours, stored only as a hash; a stored outcome is encrypted under a key derived from yours.',
  ].join(' '),
  schema: { type: 'string', minLength: idempotencyKeyLength.min, maxLength: idempotencyKeyLength.max + 2 },
  example: '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
};

interface ProblemSpec {
  readonly status: number;
  readonly codes: readonly string[];
  readonly description: string;
  readonly headers?: readonly string[];
}

/**
 * One response for the problems of one status. Several specs of a status (409 `email_taken` and
 * `idempotency_key_in_use`) share it: a header that only some of them send is described, but not required.
 */
function problemResponse(specs: readonly ProblemSpec[]): Json {
  const headers: Json = { 'X-Request-Id': headerRef('RequestId') };
  const named = new Set(specs.flatMap((spec) => spec.headers ?? []));
  for (const header of named) {
    const component = header.replace(/-/g, '');
    if (specs.every((spec) => spec.headers?.includes(header))) headers[header] = headerRef(component);
    else {
      const senders = specs.filter((spec) => spec.headers?.includes(header)).flatMap((spec) => spec.codes);
      const { description, ...definition } = headerComponents[component] ?? {};
      headers[header] = {
        ...definition,
        description: `With ${senders.map((c) => `\`${c}\``).join(', ')} only. ${String(description)}`,
        required: false,
      };
    }
  }
  const codes = specs.flatMap((spec) => spec.codes);
  return {
    description: specs
      .map((spec) => `${spec.description} (\`error\`: ${spec.codes.map((c) => `\`${c}\``).join(', ')})`)
      .join('; '),
    headers,
    content: {
      [problemJson]: {
        schema: {
          allOf: [ref('Problem')],
          properties: {
            status: { const: specs[0]?.status },
            error: { enum: codes },
            type: { enum: codes.map(problemType) },
          },
        },
      },
    },
  };
}

function okResponse(description: string, schema: Json, example?: unknown): Json {
  return {
    description,
    headers: { 'X-Request-Id': headerRef('RequestId') },
    content: { 'application/json': { schema, ...(example !== undefined ? { example } : {}) } },
  };
}

const unavailable = (codes: readonly string[] = ['service_unavailable', 'overloaded']): ProblemSpec => ({
  status: 503,
  codes,
  description:
    'Nothing was written. The database is unavailable or did not answer within its deadlines (`service_unavailable`), or the worker is overloaded (`overloaded`: its line of waiting requests was full, the request waited HTTP_QUEUE_TIMEOUT_MS, or for a login the hashing budget is full); retry after Retry-After seconds',
  headers: ['Retry-After'],
});
/** For the operations that take an Idempotency-Key. */
const idempotencyProblems: readonly ProblemSpec[] = [
  {
    status: 400,
    codes: ['invalid_idempotency_key'],
    description: 'Idempotency-Key is not one string of 16 to 255 visible ASCII characters',
  },
  {
    status: 409,
    codes: ['idempotency_key_in_use'],
    description: 'A request with this Idempotency-Key is still being processed; retry after Retry-After seconds',
    headers: ['Retry-After'],
  },
  {
    status: 422,
    codes: ['idempotency_key_reused'],
    description: 'This Idempotency-Key was already used with a different request body',
  },
];
/** For the operations that write: a write sent and never confirmed. */
const outcomeUnknown: ProblemSpec = {
  status: 504,
  codes: ['outcome_unknown'],
  description:
    'A write was sent to the database and its deadline passed or its connection was lost before the database confirmed it: it may or may not have been applied. Retry after Retry-After seconds',
  headers: ['Retry-After'],
};
const jsonBodyProblems: readonly ProblemSpec[] = [
  {
    status: 400,
    codes: ['malformed_json', 'bad_request'],
    description: 'The body is not valid JSON, or could not be read or decompressed',
  },
  { status: 413, codes: ['payload_too_large'], description: 'The body is larger than 16 KiB' },
  {
    status: 415,
    codes: ['unsupported_media_type'],
    description:
      'The body is not application/json in UTF-8, or its Content-Encoding is not identity, gzip, deflate or br',
  },
  {
    status: 422,
    codes: ['validation_failed'],
    description: 'Some fields are invalid; `fields` has one message per field',
  },
];
const bearerProblems: readonly ProblemSpec[] = [
  {
    status: 401,
    codes: ['unauthorized'],
    description:
      'No bearer token, or one that is malformed, unknown, revoked or expired (then WWW-Authenticate says `error="invalid_token"`)',
    headers: ['WWW-Authenticate'],
  },
];

function responses(success: Record<string, Json>, problems: readonly ProblemSpec[]): Json {
  const out: Json = { ...success };
  for (const status of new Set(problems.map((spec) => spec.status)))
    out[String(status)] = problemResponse(problems.filter((spec) => spec.status === status));
  return out;
}

function jsonBody(schema: z.ZodType, example: unknown): Json {
  return { required: true, content: { 'application/json': { schema: requestSchema(schema), example } } };
}

/** The contract's own version: bump it when the API changes (a new route, status or field). */
export const apiVersion = '1.2.0';

export function createOpenApiDocument(): Json {
  const userExample = { id: 42, email: 'ada@example.com', name: 'Ada Lovelace', createdAt: '2026-11-30T14:00:00.000Z' };
  // A registry of its own (not zod's global one): each named schema becomes components/schemas/<name>, and a schema
  // used inside another (the session's user) becomes a $ref to it.
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of [
    ['User', userSchema],
    ['Session', sessionSchema],
    ['Health', healthSchema],
    ['Ready', readySchema],
    ['Problem', problemSchema],
  ] as const) {
    registry.add(schema, { id });
  }
  const generated = z.toJSONSchema(registry, {
    io: 'output',
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Json> };
  const schemas: Json = {};
  for (const [name, schema] of Object.entries(generated.schemas)) {
    const { $schema: _dialect, $id: _id, id: _name, ...rest } = schema;
    schemas[name] = rest;
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'mysql-budget-cluster API',
      version: apiVersion,
      description: [
        'A JSON API whose MySQL connection pools are budgeted so MySQL never runs out of connections.',
        '',
        'Errors are RFC 9457 problems (`application/problem+json`). Beyond the standard members they keep `error` (the code),',
        '`message` and `requestId` (and `fields` for 422), so clients of the first error format keep working.',
        'A database outage is always a 503 with Retry-After, never a 401 or a wrong answer, and a 503 means nothing was written.',
        'A write the database may have applied without confirming it is a 504 `outcome_unknown` with Retry-After instead;',
        'POST /api/users and POST /api/login take an Idempotency-Key, so that a retry after either takes effect exactly once.',
        'Every path answers a method it does not list with 405 and an `Allow` header (components/responses/MethodNotAllowed);',
        'a path not listed here answers 404 (components/responses/NotFound).',
      ].join('\n'),
      license: { name: 'MIT', identifier: 'MIT' },
    },
    // Relative: the API is wherever this document was fetched from.
    servers: [{ url: '/' }],
    security: [],
    tags: [
      { name: 'users', description: 'Accounts' },
      { name: 'sessions', description: 'Bearer tokens: log in, who am I, log out' },
      { name: 'health', description: 'Probes for load balancers and orchestrators' },
      { name: 'contract', description: 'This document' },
    ],
    paths: {
      '/api/users': {
        post: {
          operationId: 'register',
          tags: ['users'],
          summary: 'Register a user',
          description:
            'Emails are unique case-insensitively. Passwords: 8 to 1024 characters, stored only as a scrypt hash. With an Idempotency-Key, a retry registers at most once.',
          parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }],
          requestBody: jsonBody(registerSchema, {
            email: 'ada@example.com',
            password: 'analytical-engine',
            name: 'Ada Lovelace',
          }),
          responses: responses({ '201': okResponse('The user', ref('User'), userExample) }, [
            ...jsonBodyProblems,
            { status: 409, codes: ['email_taken'], description: 'An account with this email already exists' },
            ...idempotencyProblems,
            unavailable(),
            outcomeUnknown,
          ]),
        },
      },
      '/api/login': {
        post: {
          operationId: 'login',
          tags: ['sessions'],
          summary: 'Log in: exchange email and password for a bearer token',
          description:
            'With an Idempotency-Key, a retry gets the same session (the same token) instead of a second one.',
          parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }],
          requestBody: jsonBody(loginSchema, { email: 'ada@example.com', password: 'analytical-engine' }),
          responses: responses(
            {
              '200': okResponse('A new session', ref('Session'), {
                token: 'q2o8n6Qx0m3X2b5lW2JtF6y1rN8pZ4cV7aK9sD0fG1h',
                expiresAt: '2026-12-01T14:00:00.000Z',
                user: userExample,
              }),
            },
            [
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
              ...idempotencyProblems,
              unavailable(),
              outcomeUnknown,
            ],
          ),
        },
      },
      '/api/me': {
        get: {
          operationId: 'me',
          tags: ['sessions'],
          summary: 'The logged-in user',
          security: [{ bearerAuth: [] }],
          responses: responses({ '200': okResponse('The user of the session', ref('User'), userExample) }, [
            ...bearerProblems,
            unavailable(),
          ]),
        },
      },
      '/api/logout': {
        post: {
          operationId: 'logout',
          tags: ['sessions'],
          summary: 'Revoke the session',
          security: [{ bearerAuth: [] }],
          responses: responses(
            { '204': { description: 'Revoked', headers: { 'X-Request-Id': headerRef('RequestId') } } },
            [...bearerProblems, unavailable(), outcomeUnknown],
          ),
        },
      },
      '/healthz': {
        get: {
          operationId: 'liveness',
          tags: ['health'],
          summary: 'Liveness: the process answers (never touches the database)',
          responses: responses({ '200': okResponse('Alive', ref('Health'), { status: 'ok' }) }, []),
        },
      },
      '/readyz': {
        get: {
          operationId: 'readiness',
          tags: ['health'],
          summary: 'Readiness: the database answers and this worker is not draining',
          responses: responses({ '200': okResponse('Ready for traffic', ref('Ready'), { status: 'ready' }) }, [
            unavailable(['service_unavailable', 'shutting_down']),
          ]),
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          tags: ['contract'],
          summary: 'This document',
          responses: {
            '200': {
              description: 'The OpenAPI document (cacheable; revalidate with If-None-Match)',
              headers: { 'X-Request-Id': headerRef('RequestId'), ETag: headerRef('ETag') },
              content: { 'application/json': { schema: { type: 'object' } } },
            },
            '304': {
              description: 'Unchanged since the ETag sent in If-None-Match',
              headers: { 'X-Request-Id': headerRef('RequestId'), ETag: headerRef('ETag') },
            },
          },
        },
      },
    },
    components: {
      schemas,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'The `token` of POST /api/login' },
      },
      headers: headerComponents,
      parameters: { IdempotencyKey: idempotencyKeyParameter },
      responses: {
        NotFound: problemResponse([{ status: 404, codes: ['not_found'], description: 'No such route' }]),
        MethodNotAllowed: problemResponse([
          {
            status: 405,
            codes: ['method_not_allowed'],
            description: 'The path does not accept this method',
            headers: ['Allow'],
          },
        ]),
      },
    },
  };
}
