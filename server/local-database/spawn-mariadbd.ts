import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';

/** Where Debian's mariadb-server package puts the server. */
export const mariadbdPath = '/usr/sbin/mariadbd';

export interface MariadbdOptions {
  readonly datadir: string;
  /** Its socket, pid file and log. */
  readonly runDir: string;
  /** The address it listens on, and only there. */
  readonly host: string;
  readonly port: number;
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

export interface RunningMariadbd {
  /** Undefined when it could not even be started (then `ready` rejects). */
  readonly pid: number | undefined;
  readonly logFile: string;
  /** Resolves once it accepts connections; rejects, having killed it, when it exits or stays silent instead. */
  readonly ready: Promise<void>;
  /** SIGTERM, then wait until it has exited (SIGKILL after the stop timeout). Safe to call twice. */
  stop(): Promise<void>;
  /** SIGTERM without waiting, for where nothing can wait (process 'exit'): mariadbd shuts down cleanly on its own. */
  signalStop(): void;
}

/**
 * Starts `mariadbd --no-defaults` on its own datadir (neither /etc/mysql nor the machine's own server is touched). The
 * handle comes at once, so its owner can stop it even while it is starting; `ready` says when it serves.
 *
 * It runs in a process group of its own: a Ctrl-C or a terminal hang-up sent to the service's group must not reach
 * it, since its owner stops it after the workers have drained and closed their pools.
 *
 * mariadbd may drop a SIGTERM that comes while it starts (seen with 10.11: the port already open, "ready for
 * connections" not yet written): until it has answered a login, stopping it is a SIGKILL (it has served nothing, and
 * InnoDB recovers at the next start); after, a SIGTERM, sent again each second until it has gone.
 */
export function spawnMariadbd(options: MariadbdOptions): RunningMariadbd {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 60_000;
  const logFile = join(options.runDir, 'mariadbd.log');
  const args = [
    '--no-defaults', // must come first
    `--datadir=${options.datadir}`,
    `--socket=${socketPath(options.runDir)}`,
    `--pid-file=${join(options.runDir, 'mariadbd.pid')}`,
    `--bind-address=${options.host}`,
    `--port=${options.port}`,
    `--user=${userInfo().username}`,
    // No reverse DNS on connect: TCP logins match root@127.0.0.1, which initializeDatadir created.
    '--skip-name-resolve',
  ];
  const logFd = openSync(logFile, 'a');
  const child = (() => {
    try {
      return spawn(mariadbdPath, args, { stdio: ['ignore', logFd, logFd], detached: true });
    } finally {
      closeSync(logFd);
    }
  })();
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(`exited (code ${code}, signal ${signal})`));
    // 'error' also follows a failed kill(); only a failed spawn (no pid) means there is no process.
    child.once('error', (error) => child.pid === undefined && resolve(`could not be started: ${error.message}`));
  });
  let gone: string | undefined;
  void exited.then((why) => (gone = why));
  let serving = false;

  const logTail = async () =>
    (await readFile(logFile, 'utf8').catch(() => '(no log)')).trimEnd().split('\n').slice(-15).join('\n');
  const ready = (async () => {
    for (const deadline = Date.now() + readyTimeoutMs; !(await answersLogins(options.host, options.port)); ) {
      if (gone !== undefined) throw new Error(`mariadbd ${gone} before it answered:\n${await logTail()}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mariadbd answered no login within ${readyTimeoutMs} ms:\n${await logTail()}`);
      }
      await sleep(100);
    }
    serving = true;
  })();

  let stopped: Promise<void> | undefined;
  return {
    pid: child.pid,
    logFile,
    ready,
    stop() {
      stopped ??= (async () => {
        if (gone !== undefined) return;
        const timer = new AbortController();
        const late = sleep(stopTimeoutMs, true, { signal: timer.signal }).catch(() => false);
        const stopping = setInterval(() => child.kill(serving ? 'SIGTERM' : 'SIGKILL'), 1000);
        child.kill(serving ? 'SIGTERM' : 'SIGKILL');
        if (await Promise.race([exited.then(() => false), late])) {
          child.kill('SIGKILL');
          await exited;
        }
        clearInterval(stopping);
        timer.abort();
      })();
      return stopped;
    },
    signalStop() {
      if (gone === undefined) child.kill(serving ? 'SIGTERM' : 'SIGKILL');
    },
  };
}

/**
 * True once the server has answered a login, whatever the answer (an access denied is an answer): the port opens
 * earlier, while connections still wait in its backlog.
 */
async function answersLogins(host: string, port: number): Promise<boolean> {
  try {
    const connection = await mysql.createConnection({ host, port, user: 'root', connectTimeout: 1000 });
    connection.destroy();
    return true;
  } catch (error) {
    return (error as { sqlState?: unknown }).sqlState !== undefined;
  }
}

/**
 * A unix socket's path has room for about 100 bytes (sun_path): in a deep project folder the socket goes to the
 * temp directory instead, under a name of that folder's own, so two projects' servers never share one.
 */
function socketPath(runDir: string): string {
  const inRunDir = join(runDir, 'mariadbd.sock');
  if (Buffer.byteLength(inRunDir) <= 100) return inRunDir;
  return join(tmpdir(), `mariadbd-${createHash('sha256').update(runDir).digest('hex').slice(0, 16)}.sock`);
}
