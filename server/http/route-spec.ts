import type { Middleware } from 'koa';
import type { z } from 'zod';
import type { LoginLookup } from '../auth/login-lookup.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import type { PasswordHasher } from '../auth/password-hasher.js';
import type { SessionStore } from '../auth/session-store.js';
import type { UserStore } from '../auth/user-store.js';
import type { DbPool } from '../db/create-db-pool.js';
import type { AppState } from './app-state.js';
import type { IdempotentResponder } from './idempotent-responder.js';

/*
 * A route, declared once: what the router mounts and what the OpenAPI document says about it come from the same
 * entry of the route table (routes/route-table.ts), as fastify's routes carry their schemas for @fastify/swagger.
 */

/** The problems one status of an operation can answer, and why (the document's description of that response). */
export interface ProblemSpec {
  readonly status: number;
  readonly codes: readonly string[];
  readonly description: string;
  /** Response headers these problems send (Retry-After, WWW-Authenticate, Allow). */
  readonly headers?: readonly string[];
}

/** A success response: a body of a named schema (components/schemas), of an inline schema, or none. */
export interface SuccessSpec {
  readonly status: number;
  readonly description: string;
  readonly schema?: string | Readonly<Record<string, unknown>>;
  readonly example?: unknown;
  /** Headers beyond X-Request-Id (ETag). */
  readonly headers?: readonly string[];
}

/** What the contract says of an operation; a route without one (the test routes) is not part of the API. */
export interface OperationSpec {
  readonly operationId: string;
  readonly tags: readonly string[];
  readonly summary: string;
  readonly description?: string;
  /** Needs a bearer token: the document says so, with its 401. */
  readonly bearer?: boolean;
  /** Takes an Idempotency-Key: the document describes the header and its 400, 409 and 422. */
  readonly idempotencyKey?: boolean;
  readonly requestBody?: { readonly schema: z.ZodType; readonly example: unknown };
  readonly responses: readonly SuccessSpec[];
  /** Every problem it can answer beyond those `bearer` and `idempotencyKey` bring. */
  readonly problems: readonly ProblemSpec[];
}

/** Everything a route's handlers may use; createApp builds it once. */
export interface RouteDeps {
  readonly db: DbPool;
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly hasher: PasswordHasher;
  readonly throttle: LoginThrottle;
  /** The account and the throttle's block in one read, before a login waits for the hasher. */
  readonly logins: LoginLookup;
  /** Idempotency-Key on the routes that create something (registration, login). */
  readonly idempotency: IdempotentResponder;
  readonly bodyLimitBytes: number;
  /** True once this worker started draining: readiness fails and responses close their connection. */
  readonly isShuttingDown: () => boolean;
  /** This app's OpenAPI document, serialised once, with its ETag. */
  readonly openApi: { readonly text: string; readonly etag: string };
}

export interface RouteSpec {
  readonly method: 'get' | 'post';
  readonly path: string;
  readonly operation?: OperationSpec;
  /** Answered at once, whatever waits in the worker's request line (probes, the document). */
  readonly unqueued?: boolean;
  /** Mounted only with ENABLE_TEST_ROUTES. */
  readonly testOnly?: boolean;
  /** The middleware that serve it, in order. */
  readonly handlers: (deps: RouteDeps) => readonly Middleware<AppState>[];
}
