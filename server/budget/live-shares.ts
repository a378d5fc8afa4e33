import { ceilingFor, grantFor, quantize, type ReplicaShape } from './replica-shape.js';

/**
 * The arithmetic of live shares (APP_REPLICAS=auto), kept pure so it can be checked under random join, leave and
 * crash orders. A replica's *grant* is every connection it may hold (replica-shape.ts), so shares are dealt in whole
 * units of a replica's shape: a first grant of `primary + pools` (one connection per pool), then `pools` at a time.
 * Every replica computes the same answer from the same rows, so they agree without talking to each other.
 */

export interface ClaimView {
  readonly id: string;
  /** Join order: when not every replica fits, the older claims are the ones that serve. */
  readonly seq: number;
  readonly granted: number;
  readonly wanted: number;
  /** The claim's shape: its grant is 0 or `primaryConnections + pools × c`. */
  readonly primaryConnections: number;
  readonly pools: number;
  /** Its owner stopped renewing for a whole lease: its grant still counts (its threads may live) but it gets no share. */
  readonly expired: boolean;
}

const byAge = (a: ClaimView, b: ClaimView) => a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Each live claim's target grant out of `usable`. Claims are admitted oldest first, each with its smallest grant,
 * until the next one no longer fits: so with more replicas than room, ⌊usable ÷ smallest grant⌋ of them serve and the
 * others wait at 0 (not ready) instead of every share rounding down to nothing. What is left is dealt max-min fairly
 * in whole steps of each claim's `pools`: the claim holding least (the older on a tie) takes the next step that fits,
 * up to what it wants.
 */
export function targetGrants(usable: number, live: readonly ClaimView[]): Map<string, number> {
  const targets = new Map<string, number>(live.map((claim) => [claim.id, 0]));
  const admitted: ClaimView[] = [];
  let remaining = Math.max(0, usable);
  for (const claim of [...live].sort(byAge)) {
    const first = claim.primaryConnections + claim.pools;
    if (first > remaining || first > claim.wanted) break;
    targets.set(claim.id, first);
    remaining -= first;
    admitted.push(claim);
  }
  for (;;) {
    let next: ClaimView | undefined;
    for (const claim of admitted) {
      const target = targets.get(claim.id)!;
      if (claim.pools > remaining || target + claim.pools > claim.wanted) continue;
      if (!next || target < targets.get(next.id)!) next = claim; // admitted is oldest first: ties stay with the older
    }
    if (!next) return targets;
    targets.set(next.id, targets.get(next.id)! + next.pools);
    remaining -= next.pools;
  }
}

export interface StepPlan {
  /** The grant to publish in this step (lower once the pools are down, or higher into free room). */
  readonly granted: number;
  /** The grant this replica should end up with once the others have moved too. */
  readonly target: number;
  /** The ceiling to tell the pools after the grant is committed: never above what `granted` pays for. */
  readonly ceiling: number;
  /** True when `granted` is above what is published: only that needs the claims lock. */
  readonly grows: boolean;
}

/**
 * One replica's step. `bound` is the most any pool of this replica may still hold (a lower ceiling counts only once
 * the pools confirm it), so the published grant never drops below what they may hold; it rises only into room nobody
 * else's grant covers (expired claims included: their threads may still live until they are retired).
 */
export function planStep(
  me: { id: string; shape: ReplicaShape; bound: number },
  claims: readonly ClaimView[],
  usable: number,
): StepPlan {
  const published = claims.find((claim) => claim.id === me.id)?.granted ?? 0;
  const covered = Math.min(published, grantFor(me.shape, me.bound));
  const live = claims.filter((claim) => !claim.expired || claim.id === me.id);
  const target = targetGrants(usable, live).get(me.id) ?? 0;
  let granted = covered;
  if (covered < target) {
    const others = claims.reduce((sum, claim) => (claim.id === me.id ? sum : sum + claim.granted), 0);
    granted = Math.max(covered, quantize(me.shape, Math.min(target, usable - others)));
  }
  return {
    granted,
    target,
    ceiling: Math.min(ceilingFor(me.shape, granted), ceilingFor(me.shape, target)),
    grows: granted > published,
  };
}
