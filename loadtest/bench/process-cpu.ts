import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time a process and its descendants have used, from Linux's /proc: their main threads (each process's event loop,
 * for Node) apart from their other threads (libuv's pool, where a hash runs; V8's; a database server's own). Threads
 * that ended since an earlier reading take their time with them; for a server under steady load that is nothing.
 */
export interface TreeCpu {
  readonly mainThreadsMs: number;
  readonly otherThreadsMs: number;
}

// utime and stime are in clock ticks, 100 a second on every Linux that Node runs on (USER_HZ).
const msPerTick = 10;

/** Fields of /proc/…/stat after the command's closing parenthesis (which may itself hold spaces and parentheses). */
function statFields(path: string): string[] | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone since the directory was listed
  }
}

function descendants(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = Number(statFields(`/proc/${entry}/stat`)?.[1]);
    parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)]);
  }
  const found = [root];
  for (let i = 0; i < found.length; i++) found.push(...(parents.get(found[i]!) ?? []));
  return found;
}

function threadCpuMs(pid: number, tid: number | string): number | undefined {
  const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
  return fields && (Number(fields[11]) + Number(fields[12])) * msPerTick;
}

/** CPU time of one process's main thread alone: for Node, the event loop's, without libuv's pool and V8's threads. */
export function mainThreadCpuMs(pid: number): number {
  return threadCpuMs(pid, pid) ?? 0;
}

export function processTreeCpu(root: number): TreeCpu {
  let mainThreadsMs = 0;
  let otherThreadsMs = 0;
  for (const pid of descendants(root)) {
    let threads: string[] = [];
    try {
      threads = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of threads) {
      const ms = threadCpuMs(pid, tid) ?? 0;
      if (Number(tid) === pid) mainThreadsMs += ms;
      else otherThreadsMs += ms;
    }
  }
  return { mainThreadsMs, otherThreadsMs };
}

/** What a process tree used while `work` ran. */
export async function cpuOf<T>(root: number, work: () => Promise<T>): Promise<{ result: T; used: TreeCpu }> {
  const before = processTreeCpu(root);
  const result = await work();
  const after = processTreeCpu(root);
  return {
    result,
    used: {
      mainThreadsMs: after.mainThreadsMs - before.mainThreadsMs,
      otherThreadsMs: after.otherThreadsMs - before.otherThreadsMs,
    },
  };
}
