import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Each connection is a file descriptor. Node already raises its soft open-file limit to the hard limit at
 * start; when even the hard limit is below the need, this process's limits are raised with util-linux's
 * `prlimit --pid` (Node has no setrlimit), which works when running as root (CAP_SYS_RESOURCE). What cannot be
 * raised becomes a warning that says what to run. Returns what to tell the user.
 */
export function checkLimits(connections: number): string[] {
  const warnings: string[] = [];
  const needed = connections + 256; // the connections, plus scrapes, our metrics server, stdio, libuv
  const limits = readFileLimit();
  if (limits && limits.soft < needed) {
    const hard = limits.hard === Infinity ? 'unlimited' : String(Math.max(limits.hard, needed));
    spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${hard}`], { stdio: 'ignore' });
    const after = readFileLimit();
    if (after && after.soft > limits.soft)
      warnings.push(
        `note: raised the open-file limit from ${limits.soft} to ${after.soft} for ${connections} connections`,
      );
    if (after && after.soft < needed) {
      warnings.push(
        `warning: open-file limit (ulimit -n) is ${after.soft} (hard ${after.hard}) but ${connections} connections need about ${needed}: ` +
          `expect EMFILE errors. Raise it first, e.g. \`ulimit -n ${needed}\`${after.hard < needed ? ' as root (the hard limit is lower too)' : ''}.`,
      );
    }
  }
  const ports = readPortRange();
  if (ports !== undefined && connections > ports) {
    warnings.push(
      `warning: only ${ports} local ports (net.ipv4.ip_local_port_range) for ${connections} connections to one address: expect EADDRNOTAVAIL.`,
    );
  }
  return warnings;
}

function readFileLimit(): { soft: number; hard: number } | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '')
      .split(/\s{2,}/)
      .slice(1, 3)
      .map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    return soft !== undefined && hard !== undefined && !Number.isNaN(soft) && !Number.isNaN(hard)
      ? { soft, hard }
      : undefined;
  } catch {
    return undefined; // not Linux
  }
}

function readPortRange(): number | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low !== undefined && high !== undefined ? high - low + 1 : undefined;
  } catch {
    return undefined;
  }
}
