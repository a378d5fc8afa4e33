import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves once `condition` holds, checked every `intervalMs`; rejects naming `what` if it still does not after
 * `timeoutMs`. For waiting on something the test cannot be told about (a kernel table, a count of samples), with a
 * bound generous enough for a busy machine: a fixed sleep would assume it happened by then.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  options: { readonly what: string; readonly timeoutMs: number; readonly intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${options.what}: not within ${options.timeoutMs} ms`);
    await sleep(options.intervalMs ?? 20);
  }
}
