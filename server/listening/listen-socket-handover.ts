import type { Worker } from 'node:cluster';
import type { Server as NetServer } from 'node:net';
import type { PrimaryMessage, WorkerInbox, WorkerMessage } from '../protocol/messages.js';

/*
 * With HTTP_ACCEPT=reuseport each worker listens on sockets of its own. A listening socket closes when the last
 * process holding it closes it, and Linux then resets every connection still queued on it, established but not yet
 * accepted, unless net.ipv4.tcp_migrate_req is set (it is off by default). A worker that exits in a rolling reload, or
 * crashes, would take its sockets and their queues with it.
 *
 * So the primary keeps a copy of every worker's sockets, by slot: the first worker of a slot opens them and hands the
 * primary a copy; every later worker of that slot (a reload's replacement, a crash's restart) takes those same
 * sockets instead of opening new ones. The kernel's queue outlives each worker: during a reload the old and the new
 * worker accept from it together until the old one leaves, and a crash does not close it either. The primary never
 * accepts on them; it closes its copies only when the service stops.
 *
 * While a slot has no worker (after a crash, or the watchdog's kill of a hung one, until the restart is ready) the
 * primary lends its sockets to a worker of another slot, which accepts on them too, so the connections queued there
 * are served at once rather than after the restart; the lender takes them back when the slot's worker is ready.
 *
 * The sockets travel over the cluster's IPC channel as their libuv handles (`net.Server#_handle`), the way node:cluster
 * itself passes listening handles: the receiving process gets the same socket (SCM_RIGHTS), not a new one.
 */

/** A listening socket's handle, as node:child_process passes it between processes. */
export type ListenHandle = object & { close(): void };

export interface ListenSocketKeeper {
  /** Answers a worker's `listen:want` and `listen:keep` (with the socket it keeps). */
  handle(
    worker: Worker,
    slot: number,
    message: Extract<WorkerMessage, { type: 'listen:want' | 'listen:keep' }>,
    handle: unknown,
  ): void;
  /** Lends `slot`'s sockets to `worker` (of another slot) while `slot` has no worker. */
  lend(slot: number, worker: Worker): void;
  /** `slot` has a ready worker again: the borrower closes its copies of the slot's sockets. */
  reclaim(slot: number): void;
  /** `worker` exited: the slots it borrowed are lent to nobody now. */
  forget(worker: Worker): void;
  /** Closes the primary's copies (the service is stopping); the workers' own close as they drain. */
  closeAll(): void;
}

/** The primary's side. */
export function createListenSocketKeeper(): ListenSocketKeeper {
  const bySlot = new Map<number, ListenHandle[]>();
  const lentTo = new Map<number, Worker>();
  let closed = false;
  return {
    lend(slot, worker) {
      const kept = bySlot.get(slot) ?? [];
      if (closed || kept.length === 0 || !worker.isConnected()) return;
      lentTo.set(slot, worker);
      for (const socket of kept) worker.send({ type: 'listen:adopt', slot } satisfies PrimaryMessage, socket as never);
    },
    reclaim(slot) {
      const borrower = lentTo.get(slot);
      lentTo.delete(slot);
      if (borrower?.isConnected()) borrower.send({ type: 'listen:release', slot } satisfies PrimaryMessage);
    },
    forget(worker) {
      for (const [slot, borrower] of lentTo) if (borrower === worker) lentTo.delete(slot);
    },
    handle(worker, slot, message, handle) {
      if (message.type === 'listen:want') {
        const kept = bySlot.get(slot) ?? [];
        const offered = !closed && kept.length === message.count ? kept : [];
        if (offered.length === 0 && kept.length > 0) {
          // Fewer than a whole set (a worker died while handing its sockets over): nobody would accept on these, so
          // they are closed, and the new worker opens and hands over a whole set of its own.
          for (const socket of kept) socket.close();
          bySlot.delete(slot);
        }
        worker.send({ type: 'listen:offer', count: offered.length } satisfies PrimaryMessage);
        for (const socket of offered) worker.send({ type: 'listen:socket' } satisfies PrimaryMessage, socket as never);
      } else if (isListenHandle(handle)) {
        if (closed) handle.close();
        else bySlot.set(slot, [...(bySlot.get(slot) ?? []), handle]);
      }
    },
    closeAll() {
      closed = true;
      for (const kept of bySlot.values()) for (const socket of kept) socket.close();
      bySlot.clear();
    },
  };
}

export function isListenHandle(value: unknown): value is ListenHandle {
  return typeof value === 'object' && value !== null && typeof (value as { close?: unknown }).close === 'function';
}

/** What a worker's listener uses to inherit its slot's sockets and to hand over the ones it opened. */
export interface ListenSocketSource {
  /** The slot's `count` sockets held by the primary; none when the slot has none yet (open them, then `keep`). */
  inherit(count: number): Promise<ListenHandle[]>;
  keep(sockets: readonly NetServer[]): void;
}

/** The worker's side, over its IPC channel to the primary. */
export function primaryListenSockets(
  inbox: WorkerInbox,
  send: (message: WorkerMessage, handle?: unknown) => void,
): ListenSocketSource {
  return {
    inherit(count) {
      return new Promise((resolve) => {
        let expected: number | undefined;
        const received: ListenHandle[] = [];
        const check = () => {
          if (expected === undefined || received.length < expected) return;
          stopOffer();
          stopSocket();
          resolve(received);
        };
        const stopOffer = inbox.on('listen:offer', (message) => {
          expected = message.count;
          check();
        });
        const stopSocket = inbox.on('listen:socket', (_message, handle) => {
          if (isListenHandle(handle)) received.push(handle);
          check();
        });
        send({ type: 'listen:want', count });
      });
    },
    keep(sockets) {
      for (const socket of sockets) {
        const handle = (socket as unknown as { _handle?: unknown })._handle;
        if (handle) send({ type: 'listen:keep' }, handle);
      }
    },
  };
}
