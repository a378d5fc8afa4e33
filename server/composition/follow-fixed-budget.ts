import type { Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { budgetFor, type ConnectionBudget } from '../budget/connection-budget.js';
import type { ServerLimits } from '../budget/server-limits.js';
import type { Config } from '../config/config.js';
import type { PrimaryMessage } from '../protocol/messages.js';

/**
 * DB_FOLLOW_PRIMARY with a fixed APP_REPLICAS: after a failover the budget is computed again from the new primary's
 * limits (its max_connections and the account's limits may differ from the old one's), and every live worker's pool
 * takes the new size at once (a lower one closes idle connections above it now and used ones as they come home; no
 * request fails). Workers forked from then on start with it. Limits the budget cannot fit leave the pools as they
 * are, with an error: DbPoolBudgetOversubscribed then fires. Returns the new budget, if any.
 */
export function followFixedBudget(
  config: Config,
  limits: ServerLimits,
  deps: { readonly logger: Logger; readonly workers: () => readonly { readonly worker: Worker }[] },
): ConnectionBudget | undefined {
  let budget: ConnectionBudget;
  try {
    budget = budgetFor(config, limits);
  } catch (error) {
    deps.logger.error(
      { err: error, ...limits },
      "the new primary's limits do not fit the budget; the pools keep their size",
    );
    return undefined;
  }
  for (const { worker } of deps.workers()) {
    if (!worker.isConnected()) continue;
    try {
      worker.send({ type: 'pool:ceiling', ceiling: budget.perWorker, replicaId: undefined } satisfies PrimaryMessage);
    } catch {
      // The channel closed under us: the worker is exiting, and an exited worker holds nothing.
    }
  }
  deps.logger.info({ budget, ...limits }, "connection budget computed again from the new primary's limits");
  return budget;
}
