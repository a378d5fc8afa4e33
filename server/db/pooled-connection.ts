import type { Connection } from 'mysql2/promise';
import type { CloseReason } from './pool-observer.js';

/** One pooled connection and what the pool knows about it. Times are on the pool's `now` clock. */
export interface PooledConnection {
  readonly connection: Connection;
  /** The server's id for it (CONNECTION_ID()), for KILL. */
  readonly threadId: number;
  /** The @@server_id it reached (server-identity.ts): its thread is killed on that server only. Read as it opens. */
  serverId: number | undefined;
  /** Set when the driver reports the connection broken; tarn's validation then refuses to hand it out. */
  dead: boolean;
  /** Why it was (or will be) closed, when not for the reason `dead` and `ending` tell. */
  closeReason: CloseReason | undefined;
  held: boolean;
  acquiredAt: number;
  /** When it last went back to the pool (or was opened), on the `now` clock. */
  releasedAt: number;
  /** When it is too old to be handed out again (max lifetime less jitter), on the `now` clock. */
  readonly expiresAt: number;
  /** When the current borrower must be done with it (the statement deadline), on the `now` clock. */
  deadlineAt: number;
  /**
   * Set once it is being closed (connection-closer.ts): settles when its server thread is gone, or the kill was
   * given up. Until then it keeps its place in the pool's count, so no replacement takes the pool past its ceiling.
   */
  closing: Promise<void> | undefined;
}
