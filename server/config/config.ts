/** The validated, frozen configuration every part of the service receives. Types say what; docs in .env.example say why. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type HttpAccept = 'primary' | 'shared' | 'reuseport';

export interface DbConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface Config {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Largest JSON body accepted; anything bigger is a 413. */
    readonly bodyLimitBytes: number;
    /**
     * Proxies in front of the app (TRUST_PROXY_HOPS when TRUST_PROXY=true, else 0). The client address is the
     * X-Forwarded-For entry this many places from the right: the one the outermost trusted proxy saw. Entries
     * further left were sent by the client and may be anything.
     */
    readonly trustedProxyHops: number;
    /** The listen queue: connections the kernel holds for us until accepted (capped by net.core.somaxconn). */
    readonly listenBacklog: number;
    /**
     * Who accepts connections: `primary` (node:cluster's round-robin: the primary accepts each one and hands it to a
     * worker over IPC), `shared` (every worker accepts on the one listening socket), or `reuseport` (each worker has
     * its own socket on the port, SO_REUSEPORT, and the kernel spreads connections).
     */
    readonly accept: HttpAccept;
    /** With `reuseport`: sockets each worker listens on; libuv accepts one connection per socket per loop iteration. */
    readonly listenersPerWorker: number;
    /**
     * Requests a worker runs at once; the rest wait in line, first come first served, before any work is done for
     * them. `pool`: twice the pool's live ceiling; `off`: no line, every request runs at once (HTTP_MAX_CONCURRENT_REQUESTS=0).
     * Every request in flight holds memory and timers while it waits for the pool: 10,000 of them at once cost a
     * worker a good part of its throughput.
     */
    readonly maxConcurrentRequests: number | 'pool' | 'off';
    /** Requests that may wait in that line; beyond it a request is answered 503 `overloaded` at once. */
    readonly queueMax: number;
    /** The longest a request waits in that line before its 503 `overloaded`. */
    readonly queueTimeoutMs: number;
  };
  readonly metrics: {
    readonly port: number;
    /** Per-request HTTP and pool histograms/counters; off only to measure what they cost. */
    readonly instrumentation: boolean;
  };
  readonly cluster: {
    readonly workers: number;
    /**
     * Replicas sharing MySQL: a fixed number the budget divides by, or `auto` (replicas agree on their shares live,
     * through a claims table in MySQL; server/live-shares/replica-coordinator.ts).
     */
    readonly replicas: number | 'auto';
    readonly shutdownTimeoutMs: number;
    /**
     * After SIGTERM, how long workers keep serving while /readyz already says 503, so the load balancer
     * takes them out of rotation before they stop accepting (0: stop accepting at once).
     */
    readonly readinessDelayMs: number;
    /** A worker that sends no heartbeat for this long is killed and replaced. Heartbeats go every timeout/4. */
    readonly heartbeatTimeoutMs: number;
  };
  readonly db: {
    readonly connection: DbConnectionOptions;
    /**
     * DATABASE_URL was set. Unset, `connection` is the default address, and outside production `npm start` brings up
     * a local MariaDB there when nothing answers (server/local-database/).
     */
    readonly urlGiven: boolean;
    readonly poolMax: number;
    readonly reservedConnections: number;
    readonly acquireTimeoutMs: number;
    /**
     * How long a borrowed connection may be held (its statements together) before the statement is abandoned with a
     * 503, the connection destroyed and its server thread killed. With the acquire deadline it bounds every request.
     */
    readonly queryTimeoutMs: number;
    /** Connections older than this (less up to 10 % jitter) are closed instead of reused: failovers are followed. */
    readonly maxLifetimeMs: number;
    /** A connection idle this long is pinged before reuse; recently used ones never are. */
    readonly pingAfterIdleMs: number;
    readonly idleTimeoutMs: number;
    readonly maxIdle: number;
    /**
     * Follow the primary through a failover (docs/failover.md): connections to a server that no longer takes writes
     * leave, requests wait for a writable server within the acquire deadline, what provably did not happen runs again
     * once, and the fixed budget is computed again from the new primary's limits.
     */
    readonly followPrimary: boolean;
  };
  readonly auth: {
    /** log2 of scrypt's N; 14 means N = 16384 (16 MiB per hash). */
    readonly passwordHashCost: number;
    readonly sessionTtlSeconds: number;
    /**
     * Session lookup statements a worker runs at once; the lookups that arrive meanwhile are answered together by the
     * next one. 0: every lookup its own statement.
     */
    readonly sessionLookupConcurrency: number;
    /** Concurrent hashes per worker; more wait in a queue of `hashQueue` for at most `hashQueueTimeoutMs`. */
    readonly hashConcurrency: number;
    readonly hashQueue: number;
    readonly hashQueueTimeoutMs: number;
    /** libuv's thread pool size in each worker (`UV_THREADPOOL_SIZE`, set by the primary when it forks). */
    readonly threadPoolSize: number;
  };
  readonly log: {
    readonly level: LogLevel;
    /**
     * Request lines are buffered (as nginx's `access_log … buffer= flush=`) and written at least this often;
     * 0 writes each line at once. Every other line is written at once.
     */
    readonly requestFlushMs: number;
  };
  /** Extra routes that hold a DB connection on purpose; for load and fault tests only. */
  readonly testRoutes: boolean;
}
