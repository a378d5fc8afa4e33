import { setTimeout as sleep } from 'node:timers/promises';
import type { CliArgs } from './args.js';
import { LiveLine } from '../report/live-line.js';
import { LoadtestMetrics } from '../report/loadtest-metrics.js';
import { buildResult, type Result } from '../report/summary.js';
import { ConnectionSet } from '../engine/connections.js';
import type { Credential } from '../engine/credentials.js';
import { buildIteration } from '../engine/flows.js';
import { Recorder } from '../engine/recorder.js';
import { Requester } from '../engine/requester.js';
import { RunControl, runClosed, runOpen } from '../engine/runner.js';
import { sessionsNeeded, type ScenarioFile } from '../engine/scenario-spec.js';
import { ServerMetricsWatcher } from '../engine/server-metrics.js';
import { openSessions } from '../engine/sessions.js';
import { TimeSeriesSampler } from '../engine/time-series.js';

/** Longest a request may take; what is still running this long after the end is cut off. */
const requestTimeoutMs = 30_000;
const graceMs = 5_000;

export interface RunHooks {
  /** Where the live line and notices go. */
  readonly log: (line: string) => void;
  /** Called with the stop switch once the run starts (SIGINT handling). */
  readonly started: (control: RunControl) => void;
  /** Called with the result while the exporter still serves the final values: print and write it here. */
  readonly finished: (result: Result) => void;
  /** Cuts short the exporter's last scrape interval (a second Ctrl-C). */
  readonly lingerSignal: AbortSignal;
}

/**
 * One load test: sessions, the timed run with a live line and per-second samples, the result (handed to
 * hooks.finished), then one more scrape interval of the exporter. Throws SetupError when it cannot start.
 */
export async function runLoad(
  args: CliArgs,
  file: ScenarioFile,
  credentials: readonly Credential[],
  hooks: RunHooks,
): Promise<Result> {
  const target = new URL(args.url);
  const basePath = target.pathname.replace(/\/+$/, '');
  const control = new RunControl();
  const recorder = new Recorder();
  const server = new ServerMetricsWatcher(args.metricsUrl);
  const connections = new ConnectionSet(target.origin, args.connections, requestTimeoutMs);
  const metrics = new LoadtestMetrics(args.scenario, () => connections.connected, args.runId);
  const warning = await metrics.serve(args.metricsPort);
  if (warning) hooks.log(`warning: ${warning}`);
  try {
    const wanted = sessionsNeeded(file, args.scenario);
    const sessions = wanted > 0 ? await openSessions(target.origin, basePath, file, credentials, wanted) : [];
    if (wanted > 0) hooks.log(`${sessions.length} sessions logged in before the run`);
    const requester = new Requester(file, args.connections, basePath, recorder, metrics, control);
    const iterate = buildIteration(args.scenario, { file, requester, state: control, credentials, sessions });

    await server.poll();
    const startedAt = new Date().toISOString();
    const started = performance.now();
    const live = new LiveLine(started, recorder, server, () => ({
      open: connections.connected,
      size: connections.size,
      ...requester.inFlight(),
    }));
    recorder.interval.reset(); // the sessions' logins are not part of the run
    const sampler = new TimeSeriesSampler(recorder, server, started);
    let peakOpen = 0;
    const ticker = setInterval(() => {
      peakOpen = Math.max(peakOpen, connections.connected);
      sampler.sample();
      hooks.log(live.next());
      void server.poll();
    }, 1000);
    const deadline = setTimeout(() => control.stop('duration'), args.durationSeconds * 1000);
    hooks.started(control);
    const run =
      args.rate === undefined
        ? runClosed(control, connections, iterate, recorder)
        : runOpen(control, connections, iterate, recorder, args.rate);
    await Promise.race([control.whenStopped, run]);
    control.stop(control.reason ?? 'duration');
    clearTimeout(deadline);
    const grace = new AbortController();
    const finishedInTime = await Promise.race([
      run.then(() => true),
      sleep(graceMs, false, { signal: grace.signal }).catch(() => false),
    ]);
    grace.abort();
    const elapsedSeconds = (performance.now() - started) / 1000;
    control.frozen = true;
    clearInterval(ticker);
    peakOpen = Math.max(peakOpen, connections.connected);
    if (!finishedInTime) hooks.log(`requests still running ${graceMs / 1000} s after the end were cut off`);
    await connections.destroy();
    await run;
    await server.poll();
    sampler.sample();
    const result = buildResult(
      {
        scenario: args.scenario,
        model: args.rate === undefined ? 'closed' : 'open',
        runId: args.runId,
        url: args.url,
        connections: args.connections,
        durationSeconds: args.durationSeconds,
        rate: args.rate ?? null,
        startedAt,
        elapsedSeconds: Math.round(elapsedSeconds * 1000) / 1000,
        stoppedBy: control.reason ?? 'duration',
        sessions: sessions.length,
        peakOpenConnections: peakOpen,
        connectErrors: connections.connectErrors,
      },
      file,
      recorder,
      server,
      { thresholdP95Ms: args.thresholdP95Ms, minSuccess: args.minSuccess ?? file.thresholds.loginSuccessRate },
      sampler.series,
    );
    hooks.finished(result);
    if (metrics.serving && args.scrapeIntervalSeconds > 0) {
      // Prometheus scrapes every interval: without one more scrape after the end, the last seconds of the run
      // (and its final counts) would never reach it.
      hooks.log(
        `loadtest: serving loadtest_* metrics for ${args.scrapeIntervalSeconds} s more (--scrape-interval), so Prometheus scrapes the final values`,
      );
      await sleep(args.scrapeIntervalSeconds * 1000, undefined, { signal: hooks.lingerSignal }).catch(() => undefined);
    }
    return result;
  } finally {
    await connections.destroy();
    await metrics.close();
  }
}
