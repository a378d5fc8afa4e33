import type { ParameterizedContext } from 'koa';
import type { DbConnection } from '../db/create-db-pool.js';
import { DatabaseUnavailableError, OutcomeUnknownError } from '../db/db-errors.js';
import type { IdempotencyStore } from '../idempotency/idempotency-store.js';
import { deriveKeyMaterial, type IdempotentOperation, type KeyMaterial } from '../idempotency/key-material.js';
import type { AppState } from './app-state.js';
import { HttpError, httpErrors } from './http-error.js';
import { parseIdempotencyKey } from './idempotency-key-header.js';

/** A successful answer: what the client gets, and what a retry with the same key gets again. */
export interface Outcome {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Stores the outcome on `connection`, inside the transaction of the operation's write (WriteOptions.alsoInTransaction):
 * the outcome commits with the effect or not at all.
 */
export type RecordOutcome = (connection: DbConnection, outcome: Outcome) => Promise<void>;

export interface IdempotentResponder {
  /**
   * Answers `ctx` with what `work` answers, at most once per Idempotency-Key (IETF httpapi draft "The Idempotency-Key
   * HTTP Header Field"). Without the header `work` runs as it would anyway, given no recorder. With it: the first
   * request takes the key and runs `work`, which must pass `record` to its write; a retry with the same `input` gets
   * the first outcome (an error a retry would meet again included, such as 409 `email_taken`); another `input` is 422;
   * a retry while the first still runs is 409 with Retry-After. A 5xx, a 429 or an overload stores nothing: nothing
   * was written, or (504) the write that may have been carries its outcome with it.
   */
  respond(
    ctx: ParameterizedContext<AppState>,
    operation: IdempotentOperation,
    input: Readonly<Record<string, unknown>>,
    work: (record: RecordOutcome | undefined) => Promise<Outcome>,
  ): Promise<void>;
}

/** A problem as stored for a replay: the retry is told the same, under its own request id. */
interface StoredProblem {
  readonly code: string;
  readonly message: string;
  readonly fields?: Record<string, string>;
}

/** Refusals a retry of the same request would meet again. 429 says to wait, so it is not one of them. */
const isFinal = (error: unknown): error is HttpError =>
  error instanceof HttpError && error.status >= 400 && error.status < 500 && error.status !== 429;

export function createIdempotentResponder(store: IdempotencyStore): IdempotentResponder {
  function answer(ctx: ParameterizedContext<AppState>, outcome: Outcome): void {
    ctx.status = outcome.status;
    ctx.body = outcome.body;
  }

  function replay(ctx: ParameterizedContext<AppState>, key: KeyMaterial, status: number, sealed: Buffer): void {
    const body: unknown = JSON.parse(key.open(sealed));
    if (status >= 400) {
      const problem = body as StoredProblem;
      throw new HttpError(status, problem.code, problem.message, problem.fields ? { fields: problem.fields } : {});
    }
    answer(ctx, { status, body });
  }

  return {
    async respond(ctx, operation, input, work) {
      const field = parseIdempotencyKey(ctx.get('Idempotency-Key'));
      if (field === undefined) return answer(ctx, await work(undefined));
      const { signal } = ctx.state;
      const key = deriveKeyMaterial(operation, field);
      const fingerprint = key.fingerprint(input);
      const claim = await store.claim(key.keyHash, fingerprint, signal).catch((error: unknown) => {
        // Taking the key is bookkeeping that comes before any effect: whatever became of it, nothing the client asked
        // for was written, so this is a 503 and never a 504.
        throw error instanceof OutcomeUnknownError ? new DatabaseUnavailableError(error.code, { cause: error }) : error;
      });
      if (claim.kind === 'replay') return replay(ctx, key, claim.status, claim.sealed);
      if (claim.kind === 'mismatch') throw httpErrors.idempotencyKeyReused();
      if (claim.kind === 'in_progress') throw httpErrors.idempotencyKeyInUse(claim.retryAfterSeconds);
      const { owner } = claim;
      const seal = (status: number, body: unknown) => ({ status, sealed: key.seal(JSON.stringify(body)) });
      let recorded = false;
      try {
        const outcome = await work(async (connection, written) => {
          await store.complete(connection, key.keyHash, owner, seal(written.status, written.body));
          recorded = true;
        });
        // An operation that wrote nothing of its own (so had no transaction to record in) is stored here.
        if (!recorded) await store.record(key.keyHash, owner, seal(outcome.status, outcome.body), signal);
        answer(ctx, outcome);
      } catch (error) {
        if (isFinal(error) && !signal?.aborted) {
          const problem: StoredProblem = {
            code: error.code,
            message: error.message,
            ...(error.extra.fields ? { fields: error.extra.fields } : {}),
          };
          // Not stored (the database failed meanwhile): the retry runs the operation again, which is as true.
          await store.record(key.keyHash, owner, seal(error.status, problem), signal).catch((failure: unknown) => {
            ctx.state.log.warn({ err: failure }, 'could not store the outcome of an idempotency key');
          });
        } else if (!isFinal(error) && !(error instanceof OutcomeUnknownError) && !signal?.aborted) {
          // Nothing was written: let a retry start at once instead of waiting out the claim. After an abort (the
          // client already has its answer) no statement may be sent any more: the claim then lapses by itself.
          await store.release(key.keyHash, owner, signal).catch(() => {});
        }
        throw error;
      }
    },
  };
}
