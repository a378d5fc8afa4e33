import { ceilingFor, grantFor, quantize, type ReplicaShape } from './replica-shape.js';

/**
 * The arithmetic of live shares (APP_REPLICAS=auto), kept pure so it can be checked under random join, leave and
 * crash orders. A replica's *grant* is every connection it may hold (replica-shape.ts).
 */

export interface Demand {
  readonly id: string;
  readonly wanted: number;
}

/**
 * Max-min fair split of `usable` over the live replicas (water-filling): a replica that wants less than an equal
 * split keeps only what it wants and the rest goes to the others. Every replica computes the same answer from the
 * same rows (ties broken by id), so they agree without talking to each other.
 */
export function fairShares(usable: number, demands: readonly Demand[]): Map<string, number> {
  const sorted = [...demands].sort((a, b) => a.wanted - b.wanted || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const shares = new Map<string, number>();
  let remaining = Math.max(0, usable);
  sorted.forEach((demand, index) => {
    const share = Math.min(demand.wanted, Math.floor(remaining / (sorted.length - index)));
    shares.set(demand.id, share);
    remaining -= share;
  });
  return shares;
}

export interface ClaimView {
  readonly id: string;
  readonly granted: number;
  readonly wanted: number;
  /** Past its lease on MySQL's clock: its grant still counts (its threads may live) but it gets no share. */
  readonly expired: boolean;
}

export interface GrantDecision {
  /** The grant this replica should end up with once the others have moved too. */
  readonly target: number;
  /** A higher grant it may publish right now (there is room for it), or undefined. */
  readonly grow: number | undefined;
}

/**
 * One replica's step, seen from inside the transaction that holds the claims lock: its target share, and how far
 * it may grow now without Σ granted (expired claims included) passing `usable`. Shrinking is not decided here:
 * a replica above target lowers its pools first and publishes the lower grant only once they are there.
 */
export function decideGrant(
  me: { id: string; granted: number; shape: ReplicaShape },
  claims: readonly ClaimView[],
  usable: number,
): GrantDecision {
  const live = claims.filter((claim) => !claim.expired || claim.id === me.id);
  const share =
    fairShares(
      usable,
      live.map(({ id, wanted }) => ({ id, wanted })),
    ).get(me.id) ?? 0;
  const target = quantize(me.shape, share);
  if (me.granted >= target) return { target, grow: undefined };
  const others = claims.reduce((sum, claim) => (claim.id === me.id ? sum : sum + claim.granted), 0);
  const grow = quantize(me.shape, Math.min(target, usable - others));
  return { target, grow: grow > me.granted ? grow : undefined };
}

export interface StepPlan {
  /** The grant to publish in this step's transaction (lower once the pools are down, or higher into free room). */
  readonly granted: number;
  readonly target: number;
  /** The ceiling to tell the pools after the commit: never above what `granted` pays for. */
  readonly ceiling: number;
}

/**
 * A coordination step, inside the claims lock. `bound` is the most any pool of this replica may still hold (a lower
 * ceiling counts only once the pools confirm it), so the published grant never drops below what they may hold; it
 * rises only into room nobody else's grant covers.
 */
export function planStep(
  me: { id: string; shape: ReplicaShape; bound: number },
  claims: readonly ClaimView[],
  usable: number,
): StepPlan {
  const published = claims.find((claim) => claim.id === me.id)?.granted ?? 0;
  const covered = Math.min(published, grantFor(me.shape, me.bound));
  const view = claims.map((claim) => (claim.id === me.id ? { ...claim, granted: covered, expired: false } : claim));
  const { target, grow } = decideGrant({ id: me.id, granted: covered, shape: me.shape }, view, usable);
  const granted = grow ?? covered;
  return { granted, target, ceiling: Math.min(ceilingFor(me.shape, granted), ceilingFor(me.shape, target)) };
}
