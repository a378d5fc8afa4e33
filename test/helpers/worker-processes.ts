import { readFileSync } from 'node:fs';

/**
 * The worker processes of a cluster as the kernel sees them: the live (not zombie) children of the primary.
 * Counted from /proc rather than from logs, so a worker the primary lost track of is counted too.
 */
export function childPids(parentPid: number): number[] {
  let text: string;
  try {
    // node:cluster forks from the primary's main thread, so its children are that thread's children.
    text = readFileSync(`/proc/${parentPid}/task/${parentPid}/children`, 'utf8');
  } catch {
    return []; // the primary is gone
  }
  return text
    .split(' ')
    .filter((pid) => pid.trim() !== '')
    .map(Number)
    .filter((pid) => processState(pid) !== undefined && processState(pid) !== 'Z');
}

/** The one-letter state of /proc/<pid>/stat (R, S, T, Z…), undefined once the process is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

export interface ChildCountSampler {
  /** Stops sampling; the largest number of live children seen and the number of samples taken. */
  stop(): { readonly max: number; readonly samples: number };
}

/** Counts the primary's live children every `intervalMs` until stopped: the peak a reader of logs could miss. */
export function sampleChildCount(parentPid: number, intervalMs = 20): ChildCountSampler {
  let max = 0;
  let samples = 0;
  const take = () => {
    max = Math.max(max, childPids(parentPid).length);
    samples += 1;
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { max, samples };
    },
  };
}
