import type { z } from 'zod';
import { defaultDatabaseUrl, type envSchema } from './load-config.js';

/*
 * What each environment variable means, keyed by the variables of the schema that reads them (load-config.ts), so
 * the compiler refuses a variable read but not documented, or documented but not read. The schema holds the types
 * and the defaults; this holds the words. `npm run config-docs` writes .env.example and docs/configuration.md from
 * both, and a test keeps the committed files equal to that.
 */

export interface VariableDoc {
  /** The section of .env.example and of the reference it belongs to. */
  readonly group: string;
  /** The reference's one-line meaning (markdown; links relative to docs/). */
  readonly summary: string;
  /** The comment above it in .env.example; none: it shares the one above the variable before it. */
  readonly comment?: readonly string[];
  /** A default the schema cannot state because it is computed (from the machine, or from other variables). */
  readonly computedDefault?: string;
  /** The value .env.example sets, when it is not the schema's default (or empty for a computed one). */
  readonly example?: string;
}

export const envFileHeader: readonly string[] = [
  'Copy to .env and adjust. The primary reads this file ONCE at start (dotenv), validates every value, and',
  'passes the result to its workers; nothing reads it again. A bad value stops startup naming the variable.',
  'Empty values mean "use the default".',
];

export const variableDocs: { readonly [K in keyof z.input<typeof envSchema>]-?: VariableDoc } = {
  HOST: {
    group: 'HTTP',
    summary: 'the interface the public API listens on',
    comment: ['Interface and port of the public JSON API.'],
  },
  PORT: { group: 'HTTP', summary: 'the port of the public API' },
  HTTP_LISTEN_BACKLOG: {
    group: 'HTTP',
    summary:
      "the kernel's queue of connections not yet accepted (capped by `net.core.somaxconn`; Node's default 511 overflows in a connection storm)",
    comment: [
      'The listen queue: connections the kernel holds until they are accepted (the kernel caps it at',
      'net.core.somaxconn, 4096 on current Linux). A burst of new connections beyond it is dropped by the kernel',
      "(TcpExtListenOverflows) and those clients wait for SYN retransmits, seconds each. Node's default is 511: at",
      '10,000 connections that overflowed thousands of times here (npm run bench:storm); 4096 did not overflow once.',
    ],
  },
  HTTP_ACCEPT: {
    group: 'HTTP',
    summary:
      "who accepts connections: `reuseport` (sockets of each worker's own, SO_REUSEPORT, kept by the primary across reloads and restarts; [connection storms](failure-model.md#connection-storms-and-the-request-line)), `primary` (node:cluster round-robin), `shared` (each worker on the one socket)",
    comment: [
      'Who accepts connections: reuseport (each worker listens on sockets of its own, SO_REUSEPORT, and the kernel spreads',
      'new connections over them), primary (node:cluster round-robin: the primary accepts and hands each one to a worker,',
      'one per worker event-loop iteration), shared (every worker accepts on the one socket). With primary, a burst of',
      '10,000 connections waits unaccepted and hundreds of clients time out (npm run bench:storm).',
      "With reuseport the primary keeps a copy of each worker's sockets and hands them to the worker that replaces it (a",
      'rolling reload, a crash restart): a socket never closes under the connections queued on it.',
    ],
  },
  HTTP_LISTENERS_PER_WORKER: {
    group: 'HTTP',
    summary:
      'sockets per worker: Node accepts one connection per socket per event-loop iteration, so a busy worker takes in a burst of new connections that many at a time ([the storm investigation](storm-investigation.md))',
    comment: [
      'With HTTP_ACCEPT=reuseport: sockets each worker listens on (default 16). Node accepts one connection per socket per',
      'event-loop iteration, so with one socket a busy worker takes in a burst of new connections one per iteration and',
      "the last ones wait seconds. Refused with primary or shared (one socket, the primary's).",
    ],
    computedDefault: '`16` with `reuseport`',
    example: '16',
  },
  HTTP_MAX_CONCURRENT_REQUESTS: {
    group: 'HTTP',
    summary:
      'requests a worker runs at once; the rest wait in line, first come first served (probes and `/openapi.json` never wait); `0`: no line',
    comment: [
      "Requests a worker runs at once (default: twice its pool's live ceiling, at least 16; 0: no line, every request runs",
      'at once). The rest wait in line, first come first served, before any work is done for them; /healthz, /readyz and',
      '/openapi.json never wait. Every request in flight holds memory and timers while it waits for the pool: 10,000 at',
      "once made each cost more CPU, and the pool's DB_ACQUIRE_TIMEOUT_MS then answered most of them 503.",
    ],
    computedDefault: "twice the pool's live ceiling, at least 16",
  },
  HTTP_QUEUE_MAX: {
    group: 'HTTP',
    summary: 'requests that may wait in that line per worker before a 503 `overloaded`',
    comment: [
      'Requests that may wait in that line, per worker; beyond it a request is answered 503 `overloaded` at once.',
    ],
  },
  HTTP_QUEUE_TIMEOUT_MS: {
    group: 'HTTP',
    summary: 'how long a request may wait in that line before a 503 `overloaded`',
    comment: [
      'The longest a request waits in that line before its 503 `overloaded` (with Retry-After). Keep it below your',
      "clients' and load balancer's timeouts: an answer after they gave up is work for nobody.",
    ],
  },
  METRICS_PORT: {
    group: 'HTTP',
    summary: 'Prometheus `/metrics` on the primary, never on the API port',
    comment: [
      'Prometheus /metrics, served by the primary on its own port (never expose it publicly). Must differ from PORT.',
    ],
  },
  TRUST_PROXY: {
    group: 'HTTP',
    summary: 'take client addresses from `X-Forwarded-For` (set it behind a load balancer)',
    comment: [
      'Behind a load balancer that sets X-Forwarded-For, set true so login throttling sees real client addresses.',
      'Never set it when clients can reach the app directly: they could then choose their own address.',
    ],
  },
  TRUST_PROXY_HOPS: {
    group: 'HTTP',
    summary:
      'proxies that append to `X-Forwarded-For`: the client is the entry this many places from the right; refused without `TRUST_PROXY`',
    comment: [
      'With TRUST_PROXY=true: how many proxies append to X-Forwarded-For in front of the app (default 1). The client',
      'address is the entry this many places from the right, the one the outermost proxy saw; entries further left',
      'are whatever the client sent. Count every proxy that appends (e.g. a CDN and then a load balancer: 2).',
    ],
    computedDefault: '`1` with `TRUST_PROXY=true`',
  },
  WORKERS: {
    group: 'Cluster',
    summary: 'worker processes per host',
    comment: ['Worker processes on this host. Default: os.availableParallelism().'],
    computedDefault: '`os.availableParallelism()`',
  },
  APP_REPLICAS: {
    group: 'Cluster',
    summary:
      'hosts sharing the same MySQL, or `auto`: replicas agree on their shares live ([docs/replicas.md](replicas.md))',
    comment: [
      'How many hosts/containers run this service against the same MySQL (include any rolling-deploy surge), or `auto`:',
      'the replicas agree on their shares live through MySQL (docs/replicas.md). Use auto',
      'behind an autoscaler or with rolling deploys; 1 (the default) needs nothing on a single host.',
    ],
  },
  SHUTDOWN_TIMEOUT_MS: {
    group: 'Cluster',
    summary:
      'drain deadline for `SIGTERM`/`SIGINT`; a worker asked to stop (shutdown or reload) that has not exited this long after is killed',
    comment: [
      'How long SIGTERM/SIGINT may take to drain in-flight requests before stragglers are killed. Also how long any',
      'worker asked to stop (a SIGHUP reload replacing it) may take to exit before it is killed.',
    ],
  },
  SHUTDOWN_READINESS_DELAY_MS: {
    group: 'Cluster',
    summary: 'after `SIGTERM`, keep serving this long with `/readyz` at 503 so the load balancer drains first',
    comment: [
      'Behind a load balancer: after SIGTERM keep serving this long while /readyz already answers 503, so the',
      'balancer stops sending new connections before the listeners close (e.g. 2-3 health-check intervals).',
      'Counts inside SHUTDOWN_TIMEOUT_MS, so raise that too.',
    ],
  },
  WORKER_HEARTBEAT_TIMEOUT_MS: {
    group: 'Cluster',
    summary: 'a worker silent this long is killed and replaced',
    comment: [
      'Workers send a heartbeat every quarter of this; a worker silent this long (stuck event loop, SIGSTOP) is',
      'killed and replaced. 10 s: far above any healthy event-loop stall, short enough to stop serving stale.',
      'Only time the primary itself was running counts: a paused host or container does not kill every worker.',
    ],
  },
  DATABASE_URL: {
    group: 'Database and the connection budget',
    summary:
      'created if missing; unset and nothing there, `npm start` runs a local MariaDB ([docs](local-database.md))',
    comment: [
      'mysql://user:password@host:port/database. The database is created if missing (needs CREATE privilege).',
      'Unset (and not in production) with nothing at 127.0.0.1:3306, npm start runs a local MariaDB (docs/local-database.md).',
    ],
    computedDefault: `\`${defaultDatabaseUrl}\``,
    example: 'mysql://root@127.0.0.1:3306/app',
  },
  DB_POOL_MAX: {
    group: 'Database and the connection budget',
    summary: 'per-worker ceiling; the budget may give less',
    comment: [
      "Ceiling for each worker's pool. The real size is",
      '  min(DB_POOL_MAX, floor((limit - DB_RESERVED_CONNECTIONS - APP_REPLICAS) / (APP_REPLICAS * (WORKERS + 1))))',
      'where limit = the smallest of @@max_connections and the non-zero @@GLOBAL.max_user_connections and',
      "@@SESSION.max_user_connections (the account's own MAX_USER_CONNECTIONS), 1 connection per",
      'replica is the primary\'s own, and "+ 1" pays for the extra worker alive during a rolling reload.',
    ],
  },
  DB_RESERVED_CONNECTIONS: {
    group: 'Database and the connection budget',
    summary:
      'headroom for admins, migrations, other clients, and the short-lived connections that kill timed-out statements (one per worker at a time)',
    comment: [
      'Connections left for admins, migrations, backups and other clients, and for the short-lived connections that kill',
      'the server threads of statements past DB_QUERY_TIMEOUT_MS (at most one per worker at a time).',
    ],
  },
  DB_ACQUIRE_TIMEOUT_MS: {
    group: 'Database and the connection budget',
    summary: 'wait for a connection before answering 503',
    comment: ['How long a request waits for a pooled connection before it gets 503 + Retry-After.'],
  },
  DB_QUERY_TIMEOUT_MS: {
    group: 'Database and the connection budget',
    summary: 'statement deadline per borrowed connection; past it 503, connection destroyed, server thread killed',
    comment: [
      "Statement deadline: how long a borrowed connection's statements may run, together, before the request gets",
      '503 + Retry-After (cause query_timeout). The connection is then destroyed, never reused, and its server thread is',
      'killed (KILL from one short-lived connection per worker, which comes out of DB_RESERVED_CONNECTIONS), so a path to',
      'MySQL that died without a reset, or a stalled server, cannot hold connections for the ~15 minutes TCP would.',
      'Once admitted, no request waits longer than DB_ACQUIRE_TIMEOUT_MS + DB_QUERY_TIMEOUT_MS (plus at most',
      'HTTP_QUEUE_TIMEOUT_MS in line before). Keep it above your slowest healthy statement.',
    ],
  },
  DB_CONNECTION_MAX_LIFETIME_MS: {
    group: 'Database and the connection budget',
    summary: 'connections older than this (less up to 10 % jitter) are replaced: failovers are followed',
    comment: [
      'Connections older than this (less up to 10 % random jitter, so they do not all expire at once) are closed when next',
      'handed out: after a failover that moves the hostname to a new primary, every connection follows within this time.',
    ],
  },
  DB_PING_AFTER_IDLE_MS: {
    group: 'Database and the connection budget',
    summary: 'a connection idle this long is pinged (500 ms deadline) before reuse',
    comment: [
      'A connection idle this long is pinged (500 ms deadline) before it is handed out, and replaced if the ping fails: a',
      'path dropped while idle (NAT, firewall, failover) costs one ping instead of a statement deadline. Connections used',
      'more recently are handed out without a check, so a busy pool never pays for it.',
    ],
  },
  DB_FOLLOW_PRIMARY: {
    group: 'Database and the connection budget',
    summary:
      'follow the primary through a failover with no restart ([failover](failover.md)); `false` behind several writable servers at once',
    comment: [
      'Follow the primary through a failover (docs/failover.md): a connection to a server that refuses writes as read-only,',
      'or that another writable server replaced, leaves the pool with every other connection to it; while no server behind',
      'DATABASE_URL takes writes, requests wait for one until the acquire deadline (then 503); a write refused as read-only,',
      'a statement never sent and a read whose connection was lost run again once; the fixed budget is computed again from',
      "the new primary's limits. `false` behind a cluster where several servers take writes at once (Galera).",
    ],
  },
  DB_IDLE_TIMEOUT_MS: {
    group: 'Database and the connection budget',
    summary: 'idle connections above `DB_MAX_IDLE` close after this long',
    comment: ['Connections idle this long are closed, down to DB_MAX_IDLE kept open per worker.'],
  },
  DB_MAX_IDLE: {
    group: 'Database and the connection budget',
    summary: 'idle connections each worker keeps open however long they idle',
  },
  PASSWORD_HASH_COST: {
    group: 'Auth',
    summary: 'scrypt log2(N)',
    comment: [
      'scrypt cost as log2(N): 14 = N 16384, 16 MiB and ~25 ms per hash. Stored with each hash, so it can change.',
    ],
  },
  SESSION_TTL_SECONDS: { group: 'Auth', summary: 'session lifetime', comment: ['Session lifetime.'] },
  SESSION_LOOKUP_CONCURRENCY: {
    group: 'Auth',
    summary:
      'session lookup statements a worker runs at once; the lookups that arrive meanwhile are answered together by the next (`0`: each its own statement)',
    comment: [
      'Every authenticated request looks its session up. A worker runs at most this many lookup statements at once; the',
      'lookups that arrive meanwhile wait and are answered together, by one statement, as soon as one finishes, so under',
      'load a round trip to MySQL serves many requests. 0: every lookup its own statement.',
    ],
  },
  PASSWORD_HASH_CONCURRENCY: {
    group: 'Auth',
    summary: 'hashes a worker runs at once (admission control for scrypt); more logins wait for a slot',
    comment: [
      'Admission control for password hashing (login, register), per worker: at most CONCURRENCY hashes at once',
      '(default: 2 x cores / WORKERS, at least 1: a second hash per core keeps the core hashing while the event loop,',
      'busy with other requests, gets round to starting the next); up to QUEUE more (default 5 x CONCURRENCY) wait at most',
      'QUEUE_TIMEOUT_MS; beyond that a fast 503 overloaded with Retry-After, so a login flood cannot starve',
      '/api/me, /healthz or /metrics.',
    ],
    computedDefault: '2 × cores ÷ workers',
  },
  PASSWORD_HASH_QUEUE: {
    group: 'Auth',
    summary:
      'logins that may wait for a hashing slot, per worker; beyond it a fast 503 `overloaded`, before the body is read',
    computedDefault: '5 × concurrency',
  },
  PASSWORD_HASH_QUEUE_TIMEOUT_MS: {
    group: 'Auth',
    summary: 'how long a login waits for a hashing slot before its 503 `overloaded`',
  },
  UV_THREADPOOL_SIZE: {
    group: 'Auth',
    summary:
      "libuv's thread pool per worker (scrypt, DNS, file I/O), set by the primary when it forks: a flood never queues a MySQL connect behind the hashes",
    comment: [
      "libuv's thread pool in each worker: scrypt runs there, as do DNS lookups and file I/O. Default: hashes + 2,",
      "at least 4 (libuv's own default), so a login flood never queues a MySQL connect behind the hashes.",
    ],
    computedDefault: 'hashes + 2, at least 4',
  },
  LOG_LEVEL: {
    group: 'Operations',
    summary: 'pino level',
    comment: ['fatal | error | warn | info | debug | trace | silent'],
  },
  LOG_REQUEST_FLUSH_MS: {
    group: 'Operations',
    summary:
      'request lines are buffered (whole lines, ≤ 4 KiB per write) and written at least this often; `0` = each at once. A `SIGKILL` loses at most this long of request lines; every other exit flushes',
    comment: [
      "Request lines (one per request) are buffered like nginx's `access_log buffer= flush=`: written in chunks of",
      "whole lines (each under 4 KiB, so processes sharing stdout never split each other's lines) at least this often.",
      'Every exit flushes them except SIGKILL, which loses at most this long of request lines. 0 = write each at once.',
    ],
  },
  NODE_ENV: {
    group: 'Operations',
    summary:
      '`development`, `production` or `test`; production refuses the test routes and never starts a local MariaDB',
    comment: ['development | production | test'],
    example: 'production',
  },
  ENABLE_TEST_ROUTES: {
    group: 'Operations',
    summary: '`GET /test/db-sleep?seconds=N` for load/fault tests; refused in production',
    comment: [
      'Test-only routes that hold DB connections on purpose (load and fault tests). Refused when NODE_ENV=production.',
    ],
  },
  METRICS_INSTRUMENTATION: {
    group: 'Operations',
    summary: 'per-request HTTP and pool histograms; off only to measure their cost',
    comment: [
      'Per-request HTTP and pool histograms/counters. Turn off only to measure what they cost (npm run bench:metrics).',
    ],
  },
};
