import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planStep, targetGrants, type ClaimView } from '../../server/budget/live-shares.js';
import { ceilingFor, grantFor, quantize, wantedBy, type ReplicaShape } from '../../server/budget/replica-shape.js';

/*
 * The arithmetic of APP_REPLICAS=auto under random join, step, confirm, leave, crash and cut-off orders. The model
 * plays the claims table and each replica's pools exactly as the coordinator does (planStep inside the lock, a raise
 * effective at once, a lower ceiling counted only once the pools confirm, retire = threads killed then row deleted).
 * After every action: Σ granted ≤ usable, and no replica's pools may hold more than its grant.
 */

interface Replica {
  readonly id: string;
  readonly shape: ReplicaShape;
  /** The ceiling the pools were told. */
  current: number;
  /** The most its pools may hold (a lower ceiling lowers it only when confirmed). */
  bound: number;
  state: 'live' | 'crashed' | 'cut-off';
}

interface Claim {
  readonly seq: number;
  granted: number;
  readonly wanted: number;
  readonly primaryConnections: number;
  readonly pools: number;
  expired: boolean;
}

type Command =
  | { kind: 'join'; workers: number; poolMax: number }
  | { kind: 'step' | 'confirm' | 'leave' | 'crash' | 'cut' | 'expire'; who: number };

function createModel(usable: number) {
  const claims = new Map<string, Claim>();
  const replicas: Replica[] = [];
  let joined = 0;
  const views = (): ClaimView[] =>
    [...claims].map(([id, { seq, granted, wanted, primaryConnections, pools, expired }]) => ({
      id,
      seq,
      granted,
      wanted,
      primaryConnections,
      pools,
      expired,
    }));

  function step(replica: Replica): void {
    const claim = claims.get(replica.id);
    if (!claim || claim.expired) {
      // Lapsed: the real coordinator fenced itself before the lease ran out (the `cut` command) and joins again.
      return;
    }
    const plan = planStep(
      { id: replica.id, shape: replica.shape, bound: Math.max(replica.bound, replica.current) },
      views(),
      usable,
    );
    claim.granted = plan.granted;
    replica.current = plan.ceiling;
    replica.bound = Math.max(replica.bound, plan.ceiling);
    // Retire what expired: its threads are killed (its pools hold nothing), then its row goes.
    for (const [id, other] of claims) {
      if (!other.expired) continue;
      const owner = replicas.find((r) => r.id === id);
      if (owner) owner.bound = 0;
      claims.delete(id);
    }
  }

  return {
    claims,
    replicas,
    usable,
    apply(command: Command): void {
      if (command.kind === 'join') {
        const shape = { primaryConnections: 1, pools: command.workers + 1, poolMax: command.poolMax };
        const seq = joined++;
        const id = `r${seq}`;
        replicas.push({ id, shape, current: 0, bound: 0, state: 'live' });
        claims.set(id, { seq, granted: 0, wanted: wantedBy(shape), ...shape, expired: false });
        return;
      }
      const replica = replicas[command.who % Math.max(1, replicas.length)];
      if (!replica) return;
      const claim = claims.get(replica.id);
      switch (command.kind) {
        case 'step':
          if (replica.state === 'live') step(replica);
          return;
        case 'confirm':
          // The pools closed what was above the ceiling; a cut-off replica's pools empty as they come home.
          if (replica.state !== 'crashed') replica.bound = replica.current;
          return;
        case 'leave':
          if (replica.state !== 'live') return;
          replica.bound = 0; // pools closed first
          claims.delete(replica.id);
          replicas.splice(replicas.indexOf(replica), 1);
          return;
        case 'crash':
          if (replica.state === 'live') replica.state = 'crashed';
          return;
        case 'cut':
          // Cut off from MySQL: it stops renewing and, before its lease can run out, fences itself (ceiling 0).
          if (replica.state === 'live') Object.assign(replica, { state: 'cut-off', current: 0 });
          return;
        case 'expire':
          if (replica.state !== 'live' && claim) claim.expired = true;
          return;
      }
    },
    /** Crashed and cut-off replicas expire and are retired; the rest step and confirm until nothing changes. */
    settle(): number {
      for (const replica of replicas)
        if (replica.state !== 'live') this.apply({ kind: 'expire', who: replicas.indexOf(replica) });
      let rounds = 0;
      for (let changed = true; changed && rounds < 20; rounds++) {
        const before = JSON.stringify([...claims]) + JSON.stringify(replicas);
        for (const replica of replicas.filter((r) => r.state === 'live')) step(replica);
        for (const replica of replicas.filter((r) => r.state === 'live')) replica.bound = replica.current;
        changed = JSON.stringify([...claims]) + JSON.stringify(replicas) !== before;
      }
      return rounds;
    },
  };
}

function checkInvariant(model: ReturnType<typeof createModel>): void {
  const total = [...model.claims.values()].reduce((sum, claim) => sum + claim.granted, 0);
  assert.ok(total <= model.usable, `Σ granted ${total} > usable ${model.usable}`);
  let held = 0;
  for (const replica of model.replicas) {
    const holds = grantFor(replica.shape, replica.bound);
    const granted = model.claims.get(replica.id)?.granted ?? 0;
    assert.ok(holds <= granted, `${replica.id} may hold ${holds} > its grant ${granted}`);
    held += holds;
  }
  assert.ok(held <= model.usable, `pools together may hold ${held} > usable ${model.usable}`);
}

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('join' as const),
      workers: fc.integer({ min: 1, max: 4 }),
      poolMax: fc.integer({ min: 1, max: 30 }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('step' as const), who: fc.nat(20) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('confirm' as const), who: fc.nat(20) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('leave' as const, 'crash' as const, 'cut' as const, 'expire' as const),
      who: fc.nat(20),
    }),
  },
);

describe('replica shares (APP_REPLICAS=auto arithmetic)', () => {
  it('deals whole units max-min fairly: nobody gets more than it wants, the rest goes a pool step at a time', () => {
    const claim = (id: string, seq: number, wanted: number) =>
      ({ id, seq, granted: 0, wanted, primaryConnections: 1, pools: 3, expired: false }) satisfies ClaimView;
    // 100 usable: a wants 10 (1 + 3 × 3), b and c up to 91 each; b and c end one step apart, the older ahead.
    const targets = targetGrants(100, [claim('a', 1, 10), claim('b', 2, 91), claim('c', 3, 91)]);
    assert.deepEqual([...targets].sort(), [
      ['a', 10],
      ['b', 46],
      ['c', 43],
    ]);
  });

  it('beyond capacity, the oldest ⌊usable ÷ smallest grant⌋ replicas serve and the rest wait at 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 20 }),
        (usable, replicas, workers, poolMax) => {
          const shape = { primaryConnections: 1, pools: workers + 1, poolMax };
          const claims = Array.from({ length: replicas }, (_, seq) => ({
            id: `r${seq}`,
            seq,
            granted: 0,
            wanted: wantedBy(shape),
            ...shape,
            expired: false,
          }));
          const targets = targetGrants(usable, claims);
          const serving = claims.filter((claim) => targets.get(claim.id)! > 0);
          const smallest = grantFor(shape, 1);
          assert.equal(serving.length, Math.min(replicas, Math.floor(usable / smallest)));
          // The ones that serve are the oldest, and no two serving replicas are more than a step apart.
          assert.deepEqual(
            serving.map((claim) => claim.seq),
            serving.map((_, index) => index),
          );
          const grants = serving.map((claim) => targets.get(claim.id)!);
          if (grants.length > 0) assert.ok(Math.max(...grants) - Math.min(...grants) <= shape.pools);
          const total = grants.reduce((sum, grant) => sum + grant, 0);
          assert.ok(total <= usable);
          for (const grant of grants) assert.equal(quantize(shape, grant), grant);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gives grants only the shape primary + pools × ceiling, never more than DB_POOL_MAX per pool', () => {
    const shape = { primaryConnections: 2, pools: 3, poolMax: 5 };
    assert.equal(quantize(shape, 4), 0); // not even one connection per pool
    assert.equal(quantize(shape, 5), 5);
    assert.equal(quantize(shape, 16), 14);
    assert.equal(ceilingFor(shape, 1000), 5);
    assert.equal(grantFor(shape, ceilingFor(shape, 1000)), wantedBy(shape));
  });

  it('never lets Σ granted or the pools pass the usable budget, whatever the order of joins, leaves, crashes and cut-offs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 200 }), fc.array(command, { maxLength: 200 }), (usable, commands) => {
        const model = createModel(usable);
        for (const next of commands) {
          model.apply(next);
          checkInvariant(model);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('converges, once the faults stop, to every live replica at its fair share within a few rounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 200 }), fc.array(command, { maxLength: 100 }), (usable, commands) => {
        const model = createModel(usable);
        for (const next of commands) model.apply(next);
        const rounds = model.settle();
        checkInvariant(model);
        // A round = every replica steps, then its pools confirm. Lower, confirm, publish, then the others grow: 4 at most.
        assert.ok(rounds <= 5, `took ${rounds} rounds`);
        const live = model.replicas.filter((r) => r.state === 'live');
        const targets = targetGrants(
          usable,
          live.map((r) => ({ ...model.claims.get(r.id)!, id: r.id })),
        );
        for (const replica of live) {
          assert.equal(
            model.claims.get(replica.id)?.granted,
            targets.get(replica.id),
            `${replica.id} did not reach its share`,
          );
          assert.equal(replica.current, ceilingFor(replica.shape, model.claims.get(replica.id)!.granted));
        }
      }),
      { numRuns: 500 },
    );
  });
});
