import type { DbConnection } from './create-db-pool.js';

/** What a store's write takes besides its input. */
export interface WriteOptions<T> {
  /** The request's cancellation (request-deadline.ts), passed to every statement of the write. */
  readonly signal?: AbortSignal | undefined;
  /**
   * More work for the write's own transaction, run after the write with what it wrote: it commits with the write or
   * not at all (an idempotency key's stored outcome). Without it the write needs no transaction of its own.
   */
  readonly alsoInTransaction?: ((connection: DbConnection, written: T) => Promise<void>) | undefined;
}
