import {
  closedLoop,
  openLoop,
  percentile,
  probe,
  Stopper,
  tally,
  type Call,
  type Sample,
} from '../../harness/traffic.js';

/**
 * The login flood, shared by the overload test (which asserts what must always hold) and `npm run bench:overload`
 * (which reports goodput and latency against the capacity measured in the same run):
 * 1. capacity: 6 closed-loop clients for 3 s with correct passwords (so the login throttle never steps in), a new
 *    connection per login;
 * 2. each multiple of that capacity as open-model arrivals (they do not wait for answers), sent by the lean client
 *    in traffic.ts so the load generator's own CPU stays small on a shared machine, while separate probes watch
 *    /healthz, /api/me and /metrics.
 */

const ok = (s: Sample): boolean => s.status === 200;

/** A login refused by admission control: 503 `overloaded`. */
export function isShed(s: Sample): boolean {
  if (s.status !== 503) return false;
  try {
    return (JSON.parse(s.body) as { error?: unknown }).error === 'overloaded';
  } catch {
    return false;
  }
}

export interface FloodTarget {
  readonly url: string;
  readonly metricsUrl: string;
  readonly emails: readonly string[];
  readonly password: string;
  /** MySQL's `Questions` counter, to charge queries to shed logins. */
  readonly questions: () => Promise<number>;
  /** Statements a successful login runs (queriesPerLogin below, unless the target differs). */
  readonly queriesPerLogin: number;
}

/**
 * A successful login's statements: the read of the account with the throttle's block, the throttle's count, its
 * clearing, and the session's insert (test/http/login-statements.test.ts holds it to this by MySQL's counter).
 */
export const queriesPerLogin = 4;

export interface FloodPhase {
  readonly multiple: number;
  readonly samples: readonly Sample[];
  readonly skipped: number;
  readonly good: readonly Sample[];
  /** 503 `overloaded`: refused by admission control. */
  readonly shed: readonly Sample[];
  readonly probes: {
    readonly healthz: readonly Sample[];
    readonly me: readonly Sample[];
    readonly metrics: readonly Sample[];
  };
  readonly figures: {
    readonly sentPerS: number;
    readonly outcomes: Record<string, number>;
    readonly goodputPerS: number;
    readonly goodputRatio: number;
    readonly okP95Ms: number;
    readonly shedP50Ms: number;
    readonly shedP95Ms: number;
    readonly mysqlQueriesPerShed: number;
    readonly healthzP99Ms: number;
    readonly meP99Ms: number;
    readonly metricsMaxMs: number;
    /** This process (load generator and probes) shares the cores with the cluster: what it took from them. */
    readonly clientCores: number;
  };
}

export interface FloodResult {
  readonly capacityPerS: number;
  readonly capacityP95Ms: number;
  readonly phases: readonly FloodPhase[];
}

export async function runLoginFlood(
  target: FloodTarget,
  plan: readonly { multiple: number; durationMs: number }[],
): Promise<FloodResult> {
  const users = target.emails.length;
  const login = (i: number): Call => ({
    method: 'POST',
    path: '/api/login',
    json: { email: target.emails[i % users], password: target.password },
  });

  const warm = await closedLoop({
    baseUrl: target.url,
    clients: 2,
    durationMs: 500,
    maxRequestsPerClient: 50,
    next: login,
  });
  const token = String((JSON.parse(warm.find(ok)?.body ?? '{}') as { token?: unknown }).token);
  // Six clients for the workers' hashing slots (2 × cores in all), each login on a new connection: the kernel deals
  // each connection to either worker, so over the run both are busy. Kept alive, the six connections would stay where
  // the hash first put them, five or six on one worker one run in five: the other worker's slots idle (the capacity
  // measured a quarter to a half too low) and this one's logins queue past the hash queue's timeout on a slow machine.
  // A login shed now and then is admission control doing its job (the slots stay busy, so goodput is still the
  // capacity); any other failure means the run measured nothing.
  const measured = await closedLoop({
    baseUrl: target.url,
    clients: 6,
    durationMs: 3000,
    maxRequestsPerClient: 1000,
    timeoutMs: 10_000,
    keepAlive: false,
    next: (n, i) => login(n + i),
  });
  const failedCapacityRun = measured.filter((s) => !ok(s) && !isShed(s));
  if (failedCapacityRun.length > 0 || !measured.some(ok))
    throw new Error(`the capacity run itself failed: ${JSON.stringify(tally(measured))}`);
  const capacityPerS = goodput(measured);

  const phases: FloodPhase[] = [];
  for (const { multiple, durationMs } of plan) {
    const stopper = new Stopper();
    // Generous probe timeouts: the probes tell whether the service answers at all; their latency is a figure.
    const options = { maxMs: durationMs + 3000, stopper, timeoutMs: 10_000 };
    const probes = Promise.all([
      probe(target.url, { path: '/healthz' }, { ...options, intervalMs: 25 }),
      probe(
        target.url,
        { path: '/api/me', headers: { Authorization: `Bearer ${token}` } },
        { ...options, intervalMs: 50 },
      ),
      probe(target.metricsUrl, { path: '/metrics' }, { ...options, intervalMs: 500 }),
    ]);
    const queriesBefore = await target.questions();
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const run = await openLoop({
      baseUrl: target.url,
      ratePerSecond: Math.round(capacityPerS * multiple),
      durationMs,
      maxInFlight: 2000,
      timeoutMs: 10_000,
      client: 'raw',
      next: login,
    });
    const cpu = process.cpuUsage(cpuBefore);
    const clientCores = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
    // The `Questions` read itself is one query.
    const queries = (await target.questions()) - queriesBefore - 1;
    stopper.stop();
    const [healthz, me, metrics] = await probes;
    const good = run.samples.filter(ok);
    const shed = run.samples.filter(isShed);
    phases.push({
      multiple,
      samples: run.samples,
      skipped: run.skipped,
      good,
      shed,
      probes: { healthz, me, metrics },
      figures: {
        sentPerS: run.sentPerSecond,
        outcomes: tally(run.samples),
        goodputPerS: goodput(run.samples),
        goodputRatio: goodput(run.samples) / capacityPerS,
        okP95Ms: percentile(
          good.map((s) => s.ms),
          95,
        ),
        shedP50Ms: percentile(
          shed.map((s) => s.ms),
          50,
        ),
        shedP95Ms: percentile(
          shed.map((s) => s.ms),
          95,
        ),
        // What the successes (queriesPerLogin each) and the /api/me probe (1 each) do not explain is charged to the
        // shed logins: a few pass the early check and are refused at the hasher after the login's one read (a
        // login is counted only once a hashing slot is free), plus the primary's status reads.
        mysqlQueriesPerShed:
          Math.max(0, queries - target.queriesPerLogin * good.length - me.length) / Math.max(1, shed.length),
        healthzP99Ms: percentile(
          healthz.map((s) => s.ms),
          99,
        ),
        meP99Ms: percentile(
          me.map((s) => s.ms),
          99,
        ),
        metricsMaxMs: Math.max(0, ...metrics.map((s) => s.ms)),
        clientCores: Math.round(clientCores * 100) / 100,
      },
    });
  }
  return {
    capacityPerS,
    capacityP95Ms: percentile(
      measured.filter(ok).map((s) => s.ms),
      95,
    ),
    phases,
  };
}

/** Successful logins per second over the run: from its first request's start to its last one's end. */
function goodput(samples: readonly Sample[]): number {
  if (samples.length === 0) return 0;
  const start = Math.min(...samples.map((s) => s.startedAt));
  const end = Math.max(...samples.map((s) => s.endedAt));
  return (samples.filter(ok).length * 1000) / Math.max(1, end - start);
}
