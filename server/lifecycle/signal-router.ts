export type SignalHandler = (signal: NodeJS.Signals) => void;

export interface SignalRouter {
  /** From now on these signals go to these handlers, a signal already received and not yet handled included. */
  route(handlers: Partial<Record<NodeJS.Signals, SignalHandler>>): void;
  /** Gives the routed signals back their default action: for SIGTERM, SIGINT and SIGHUP, the end of the process. */
  release(): void;
}

/**
 * One listener per signal for the life of the process; what a signal does changes with the phase (a start that a
 * signal ends, then a drain, a reload).
 *
 * Swapping listeners instead would lose a signal: the process catches it at once but runs its listener only on a
 * later turn of the event loop, and removing a signal's last listener discards a signal caught and not yet handled.
 * A Ctrl-C that came just as the primary finished starting was so forgotten, and the service kept running.
 */
export function createSignalRouter(
  initial: Partial<Record<NodeJS.Signals, SignalHandler>>,
  deps: { readonly process: NodeJS.Process },
): SignalRouter {
  const handlers = new Map<NodeJS.Signals, SignalHandler>();
  const listener = (signal: NodeJS.Signals) => handlers.get(signal)?.(signal);
  const route = (next: Partial<Record<NodeJS.Signals, SignalHandler>>) => {
    for (const [signal, handler] of Object.entries(next) as [NodeJS.Signals, SignalHandler][]) {
      if (!handlers.has(signal)) deps.process.on(signal, listener);
      handlers.set(signal, handler);
    }
  };
  route(initial);
  return {
    route,
    release() {
      for (const signal of handlers.keys()) deps.process.removeListener(signal, listener);
      handlers.clear();
    },
  };
}
