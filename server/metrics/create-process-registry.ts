import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One Registry per process, never prom-client's global default (a global registry would need clearing between tests and mix processes). Every series carries a
 * `worker` label with the worker's slot, so the primary can aggregate workers without losing them.
 */
export function createProcessRegistry(worker: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ worker });
  // Event-loop lag, CPU, memory, GC, handles — per process, labelled like everything else.
  collectDefaultMetrics({ register: registry });
  return registry;
}
