import type { Recorder } from '../engine/recorder.js';
import type { ServerMetricsWatcher } from '../engine/server-metrics.js';

/** The line printed every second while the load runs. */
export class LiveLine {
  private lastRequests = 0;
  private lastAt: number;

  constructor(
    private readonly startedAt: number,
    private readonly recorder: Recorder,
    private readonly server: ServerMetricsWatcher,
    private readonly connections: () => { open: number; size: number; count: number; oldestMs: number },
  ) {
    this.lastAt = startedAt;
  }

  next(now = performance.now()): string {
    const r = this.recorder;
    const perSecond = (r.requests - this.lastRequests) / Math.max(0.001, (now - this.lastAt) / 1000);
    this.lastRequests = r.requests;
    this.lastAt = now;
    const p95 = r.overall.totalCount === 0 ? '-' : `${(r.overall.getValueAtPercentile(95) / 1000).toFixed(1)} ms`;
    const errors = Object.entries(r.errors)
      .filter(([, n]) => n > 0)
      .map(([cause, n]) => `${cause}=${n}`)
      .join(' ');
    const pool = this.server.latest;
    const poolText = pool
      ? `pool ${pool.used}/${pool.max} pending ${pool.pending}`
      : `pool n/a (${this.server.lastError ?? 'no scrape yet'})`;
    const { open, size, count, oldestMs } = this.connections();
    const waiting = count === 0 ? 'in flight 0' : `in flight ${count} (oldest ${(oldestMs / 1000).toFixed(1)} s)`;
    const elapsed = `${((now - this.startedAt) / 1000).toFixed(0)}s`.padStart(5);
    return `[${elapsed}] ${perSecond.toFixed(0).padStart(6)} req/s  p95 ${p95}  total ${r.requests}  errors ${errors || 'none'}  ${poolText}  conns ${open}/${size}  ${waiting}`;
  }
}
