import type { Dispatcher } from 'undici';

/** One virtual user's (closed model) or one arrival's (open model) view while running an iteration. */
export interface Vu {
  /** Picks the seeded user and the session: the virtual user's number, or the arrival's. */
  readonly index: number;
  /** The connection's number in the ConnectionSet. */
  readonly slot: number;
  readonly client: Dispatcher;
}

/** Runs one iteration of the scenario; resolves with the think time to wait before the next one. */
export type Iteration = (vu: Vu) => Promise<number>;
