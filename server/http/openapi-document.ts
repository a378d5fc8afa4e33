import { z } from 'zod';
import { retryAfterSeconds } from './http-error.js';
import { idempotencyKeyLength } from './idempotency-key-header.js';
import { problemJson, problemType } from './problem-details.js';
import { healthSchema, problemSchema, readySchema, sessionSchema, userSchema } from './response-schemas.js';
import { bearerProblems, idempotencyProblems } from './route-problems.js';
import type { OperationSpec, ProblemSpec, RouteSpec, SuccessSpec } from './route-spec.js';
import { routeTable } from './routes/route-table.js';

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

function successResponse(spec: SuccessSpec): Json {
  const headers: Json = { 'X-Request-Id': headerRef('RequestId') };
  for (const header of spec.headers ?? []) headers[header] = headerRef(header.replace(/-/g, ''));
  if (spec.schema === undefined) return { description: spec.description, headers };
  const schema = typeof spec.schema === 'string' ? ref(spec.schema) : spec.schema;
  return {
    description: spec.description,
    headers,
    content: { 'application/json': { schema, ...(spec.example !== undefined ? { example: spec.example } : {}) } },
  };
}

function responses(success: readonly SuccessSpec[], problems: readonly ProblemSpec[]): Json {
  const out: Json = {};
  for (const spec of success) out[String(spec.status)] = successResponse(spec);
  for (const status of new Set(problems.map((spec) => spec.status)))
    out[String(status)] = problemResponse(problems.filter((spec) => spec.status === status));
  return out;
}

function jsonBody(schema: z.ZodType, example: unknown): Json {
  return { required: true, content: { 'application/json': { schema: requestSchema(schema), example } } };
}

/** An operation's entry: what the route table declares, with what `bearer` and `idempotencyKey` imply. */
function operation(spec: OperationSpec): Json {
  const declared = spec.problems.filter((problem) => problem.status < 500);
  const serverSide = spec.problems.filter((problem) => problem.status >= 500);
  const problems = [
    ...declared,
    ...(spec.bearer ? bearerProblems : []),
    ...(spec.idempotencyKey ? idempotencyProblems : []),
    ...serverSide,
  ];
  return {
    operationId: spec.operationId,
    tags: spec.tags,
    summary: spec.summary,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    ...(spec.bearer ? { security: [{ bearerAuth: [] }] } : {}),
    ...(spec.idempotencyKey ? { parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }] } : {}),
    ...(spec.requestBody ? { requestBody: jsonBody(spec.requestBody.schema, spec.requestBody.example) } : {}),
    responses: responses(spec.responses, problems),
  };
}

/** The document's paths, in the table's order; routes without an operation (the test routes) are not in it. */
function paths(routes: readonly RouteSpec[]): Json {
  const out: Record<string, Json> = {};
  for (const route of routes) {
    if (!route.operation) continue;
    out[route.path] = { ...out[route.path], [route.method]: operation(route.operation) };
  }
  return out;
}

/** The contract's own version: bump it when the API changes (a new route, status or field). */
export const apiVersion = '1.2.0';

export function createOpenApiDocument(routes: readonly RouteSpec[] = routeTable): Json {
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
    // Not for editing: the route table is where the contract is written.
    'x-generated-by': '`npm run openapi`, from the route table (server/http/routes/route-table.ts)',
    security: [],
    tags: [
      { name: 'users', description: 'Accounts' },
      { name: 'sessions', description: 'Bearer tokens: log in, who am I, log out' },
      { name: 'health', description: 'Probes for load balancers and orchestrators' },
      { name: 'contract', description: 'This document' },
    ],
    paths: paths(routes),
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
