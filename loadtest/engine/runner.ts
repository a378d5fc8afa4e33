import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionSet } from './connections.js';
import type { Iteration } from './vu.js';
import type { Recorder } from './recorder.js';
import type { RunState } from './requester.js';

/** The run's stop switch: the duration's end or a signal. */
export class RunControl implements RunState {
  stopped = false;
  frozen = false;
  reason: 'duration' | 'signal' | undefined;
  private resolveStopped!: () => void;
  readonly whenStopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));

  stop(reason: 'duration' | 'signal'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    this.resolveStopped();
  }
}

/** Closed model: one virtual user per connection, each running iterations back to back (plus think time). */
export async function runClosed(
  control: RunControl,
  connections: ConnectionSet,
  iterate: Iteration,
  recorder: Recorder,
): Promise<void> {
  const virtualUser = async (index: number) => {
    const vu = { index, slot: index, client: connections.get(index) };
    while (!control.stopped) {
      const thinkMs = await iterate(vu);
      recorder.iterations++;
      if (control.stopped) break;
      // Without think time, let timers and I/O run between iterations: a request that fails without I/O
      // (EMFILE, say) resolves in a microtask, and a loop of those would starve the event loop, the
      // deadline included, while garbage piles up.
      if (thinkMs > 0) await sleep(thinkMs);
      else await yieldToEventLoop();
    }
  };
  const users: Promise<void>[] = [];
  for (let i = 0; i < connections.size; i++) users.push(virtualUser(i));
  await Promise.all(users);
}

/**
 * Open model: `rate` iterations start per second whatever the latency, each on a free connection; an
 * arrival that finds all connections busy is dropped and counted (k6's dropped_iterations).
 */
export async function runOpen(
  control: RunControl,
  connections: ConnectionSet,
  iterate: Iteration,
  recorder: Recorder,
  rate: number,
): Promise<void> {
  const started = performance.now();
  let arrivals = 0;
  let active = 0;
  let idle: (() => void) | undefined;
  const finish = (index: number) => {
    connections.release(index);
    recorder.iterations++;
    if (--active === 0) idle?.();
  };
  const tick = () => {
    if (control.stopped) return;
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (arrivals < due) {
      arrivals++;
      const index = connections.acquire();
      if (index === undefined) {
        recorder.droppedIterations++;
        continue;
      }
      active++;
      void iterate({ index: arrivals - 1, slot: index, client: connections.get(index) }).finally(() => finish(index));
    }
  };
  const timer = setInterval(tick, 2);
  tick();
  await control.whenStopped;
  clearInterval(timer);
  if (active > 0) await new Promise<void>((resolve) => (idle = resolve));
}
