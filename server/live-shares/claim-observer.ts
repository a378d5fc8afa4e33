import type { ClaimView } from '../budget/live-shares.js';
import type { ClaimRow } from './replica-claims.js';

/*
 * Expiry as Kubernetes leader election judges a lease: by the observer's own monotonic clock. A claim is expired when
 * this replica has not seen it change for a whole lease; MySQL's clock decides nothing, so no step of it can expire
 * anyone, and an observer that has just started waits a whole lease before it judges anyone.
 */

export interface ClaimObserver {
  /** Notes what changed since the last look and marks expired the claims that have not changed for a lease. */
  observe(
    rows: readonly ClaimRow[],
    options: { readonly self: string | undefined; readonly lapsed: ReadonlySet<string> },
  ): ClaimView[];
}

export function createClaimObserver(
  options: { readonly leaseMs: number },
  deps: { readonly now: () => number },
): ClaimObserver {
  const seen = new Map<string, { version: string; changedAt: number }>();
  return {
    observe(rows, { self, lapsed }) {
      const at = deps.now();
      const ids = new Set(rows.map((row) => row.id));
      for (const id of seen.keys()) if (!ids.has(id)) seen.delete(id);
      return rows.map(({ version, retired, ...row }) => {
        const last = seen.get(row.id);
        if (!last || last.version !== version) seen.set(row.id, { version, changedAt: at });
        const quiet = at - (seen.get(row.id)?.changedAt ?? at);
        // Retired or this replica's own lapsed claim: expired whatever the clock says. Its own live claim: never.
        const expired = row.id !== self && (retired || lapsed.has(row.id) || quiet >= options.leaseMs);
        return { ...row, expired };
      });
    },
  };
}
