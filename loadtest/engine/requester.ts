import { dispatchRequest, type Reply } from './connections.js';
import { causeOfError, causeOfStatus, socketErrorCode, statusDetail, type Cause } from './errors.js';
import type { Vu } from './vu.js';
import type { Recorder } from './recorder.js';
import type { RequestName, ScenarioFile } from './scenario-spec.js';

/** Something told about every finished request (the tester's own Prometheus metrics). */
export interface RequestObserver {
  /** `status` is the HTTP status, or the failure cause when no response arrived; seconds only with a response. */
  observe(name: RequestName, status: string, seconds: number | undefined): void;
}

export interface RunState {
  stopped: boolean;
  /** Set once the run is over: requests finishing after it are counted as interrupted, not recorded. */
  frozen: boolean;
}

const statusKeys: string[] = Array.from({ length: 600 }, (_, status) => String(status));

/** Sends the scenario's named requests and records each outcome. */
export class Requester {
  private readonly routes: Record<RequestName, { method: 'GET' | 'POST'; path: string; expect: number }>;
  /** When the request now running on each connection started (0: none), for the live line's oldest request. */
  private readonly startedAt: Float64Array;

  constructor(
    file: ScenarioFile,
    connections: number,
    basePath: string,
    private readonly recorder: Recorder,
    private readonly observer: RequestObserver,
    private readonly state: RunState,
  ) {
    const route = (name: RequestName) => ({
      method: file.requests[name].method,
      path: basePath + file.requests[name].path,
      expect: file.requests[name].expectStatus,
    });
    this.routes = { login: route('login'), me: route('me'), logout: route('logout') };
    this.startedAt = new Float64Array(connections);
  }

  /** Requests waiting for their response now, and how long the oldest has waited. */
  inFlight(now = performance.now()): { count: number; oldestMs: number } {
    let count = 0;
    let oldest = now;
    for (const started of this.startedAt) {
      if (started === 0) continue;
      count++;
      if (started < oldest) oldest = started;
    }
    return { count, oldestMs: now - oldest };
  }

  /** The reply, or undefined when the run ended before it arrived. */
  async exec(
    vu: Vu,
    name: RequestName,
    headers: string[],
    body: Buffer | undefined,
    keepBody: boolean,
  ): Promise<Reply | undefined> {
    const route = this.routes[name];
    const started = performance.now();
    this.startedAt[vu.slot] = started;
    const reply = await dispatchRequest(vu.client, { path: route.path, method: route.method, headers, body }, keepBody);
    this.startedAt[vu.slot] = 0;
    if (this.state.frozen) {
      this.recorder.interrupted++;
      return undefined;
    }
    if (reply.error) {
      const cause: Cause = causeOfError(reply.error);
      this.recorder.failure(name, socketErrorCode(reply.error), cause);
      this.observer.observe(name, cause, undefined);
      return reply;
    }
    const micros = (performance.now() - started) * 1000;
    const statusKey = statusKeys[reply.status] ?? String(reply.status);
    const cause = causeOfStatus(reply.status, route.expect);
    this.recorder.response(
      name,
      statusKey,
      micros,
      cause,
      cause === undefined ? undefined : statusDetail(reply.status, reply.body),
    );
    this.observer.observe(name, statusKey, micros / 1e6);
    return reply;
  }
}
