// Throwaway MariaDB server for tests that need special server settings
// (e.g. a small max_connections) or a server they can stop, kill and restart.
//
// Each instance gets its own temp dir (datadir, unix socket, pid file, log) and a
// free loopback port, and runs `mariadbd --no-defaults` so neither /etc/mysql
// nor the machine's main server on 3306 is touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection } from 'mysql2/promise';
import { freePort } from './free-port.js';
import { ensureTemplate, INNODB_ARGS, MARIADBD } from './mariadb-template.js';

export interface ThrowawayMariadbOptions {
  maxConnections?: number;
  extraArgs?: string[];
  /** Extra environment for mariadbd, e.g. LD_PRELOAD of libfaketime to step its clock. */
  env?: Readonly<Record<string, string>>;
  /** Writes a binary log (server id `serverId`), for replication; by default none is kept. */
  binlog?: { readonly serverId: number };
  /** Creates the 'app' database on first start (default). A replica gets it from its primary instead. */
  createDatabase?: boolean;
}

export interface ThrowawayMariadb {
  readonly port: number;
  /** e.g. mysql://root@127.0.0.1:PORT/app (root, empty password, database 'app') */
  readonly url: string;
  readonly datadir: string;
  /** The running mariadbd's process id; undefined while it is stopped. */
  readonly pid: number | undefined;
  /** Graceful stop (SIGTERM, wait for exit); start() can bring it back. */
  stop(): Promise<void>;
  /** (Re)start on the same port and datadir; resolves once it answers a query. */
  start(): Promise<void>;
  /** SIGKILL, wait for exit (simulates a crash). */
  kill(): Promise<void>;
  /** Sends a signal to the running mariadbd, e.g. SIGSTOP then SIGCONT for a server that stalls. */
  signal(signal: NodeJS.Signals): void;
  /**
   * SIGSTOP, resolving once the kernel shows every thread stopped: kill(2) returns before a thread running on another
   * core has stopped, and such a thread may still answer a query or two.
   */
  pause(): Promise<void>;
  /** Stop if running and rm -rf the temp dir. Idempotent. */
  destroy(): Promise<void>;
}

const DATABASE = 'app';
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 30_000;
export async function startThrowawayMariadb(opts: ThrowawayMariadbOptions = {}): Promise<ThrowawayMariadb> {
  const template = await ensureTemplate();
  // Between probing a free port and mariadbd binding it another process may grab
  // it (parallel test runs), so retry a few times with a fresh port.
  for (let attempt = 1; ; attempt++) {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'throwaway-mariadb-'));
    const server = new Server(dir, await freePort(), opts);
    try {
      // Copying the initialised template is far quicker than running mariadb-install-db for every server.
      await fsp.cp(template, server.datadir, { recursive: true });
      await server.start();
      return server;
    } catch (err) {
      await server.destroy();
      if (attempt < 3 && err instanceof Error && /Address already in use|Bind on TCP\/IP port/.test(err.message)) {
        continue;
      }
      throw err;
    }
  }
}

class Server implements ThrowawayMariadb {
  readonly datadir: string;
  readonly url: string;
  private readonly logFile: string;
  private readonly args: string[];
  private readonly env: Readonly<Record<string, string>> | undefined;
  private child: ChildProcess | undefined;
  private childExited: Promise<void> | undefined;
  private databaseCreated = false;
  private destroyed: Promise<void> | undefined;
  // Node does not kill children when it exits; 'exit' handlers must be synchronous.
  private readonly onProcessExit = (): void => {
    try {
      this.child?.kill('SIGKILL');
    } catch {
      // best effort
    }
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  };

  constructor(
    private readonly dir: string,
    readonly port: number,
    opts: ThrowawayMariadbOptions,
  ) {
    this.datadir = path.join(dir, 'data');
    this.logFile = path.join(dir, 'mariadbd.log');
    this.url = `mysql://root@127.0.0.1:${port}/${DATABASE}`;
    this.env = opts.env;
    this.databaseCreated = opts.createDatabase === false;
    this.args = [
      '--no-defaults', // must be first: ignore /etc/mysql/*
      `--datadir=${this.datadir}`,
      `--socket=${path.join(dir, 'mariadbd.sock')}`,
      `--pid-file=${path.join(dir, 'mariadbd.pid')}`,
      `--tmpdir=${dir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--user=${os.userInfo().username}`,
      `--max-connections=${opts.maxConnections ?? 151}`,
      ...INNODB_ARGS,
      // Skip buffer pool dump/load: pointless for a throwaway server, saves I/O.
      '--innodb-buffer-pool-dump-at-shutdown=0',
      '--innodb-buffer-pool-load-at-startup=0',
      ...(opts.binlog
        ? [
            `--server-id=${opts.binlog.serverId}`,
            `--log-bin=${path.join(dir, 'binlog')}`,
            '--log-slave-updates',
            '--binlog-format=ROW',
          ]
        : ['--skip-log-bin']),
      // No reverse DNS on connect (TCP logins then match root@127.0.0.1).
      '--skip-name-resolve',
      ...(opts.extraArgs ?? []),
    ];
    process.on('exit', this.onProcessExit);
  }

  async start(): Promise<void> {
    if (this.destroyed) throw new Error('throwaway mariadb: start() after destroy()');
    if (this.child) return;

    // stderr/stdout go straight to a file (the child keeps its own fd), not to the test output.
    const logFd = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(MARIADBD, this.args, {
        stdio: ['ignore', logFd, logFd],
        ...(this.env ? { env: { ...process.env, ...this.env } } : {}),
      });
    } finally {
      closeSync(logFd);
    }
    let exitInfo: string | undefined;
    this.child = child;
    this.childExited = new Promise<void>((resolve) => {
      child.on('error', (err) => {
        // 'error' also fires for a failed kill(); only a failed spawn (no pid) means "gone".
        if (child.pid !== undefined) return;
        exitInfo = `spawn error: ${err.message}`;
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('exit', (code, signal) => {
        exitInfo = `exited with code ${code} signal ${signal}`;
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError = 'no attempt';
    while (exitInfo === undefined) {
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(
          `throwaway mariadb on port ${this.port} not ready after ${READY_TIMEOUT_MS} ms (last error: ${lastError})\n${await this.logTail()}`,
        );
      }
      try {
        await this.probe();
        return;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        await sleep(50);
      }
    }
    throw new Error(`throwaway mariadb on port ${this.port} ${exitInfo} during startup\n${await this.logTail()}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    // Abort the timer afterwards so it does not keep the event loop alive.
    const timer = new AbortController();
    const timedOut = await Promise.race([
      this.childExited!.then(() => false),
      sleep(STOP_TIMEOUT_MS, true, { signal: timer.signal }).catch(() => false),
    ]);
    timer.abort();
    if (timedOut) await this.kill();
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.childExited;
  }

  get pid(): number | undefined {
    const running = this.child && this.child.exitCode === null && this.child.signalCode === null;
    return running ? this.child?.pid : undefined;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.child) throw new Error('throwaway mariadb: not running');
    this.child.kill(signal);
  }

  async pause(): Promise<void> {
    this.signal('SIGSTOP');
    const tasks = `/proc/${this.child!.pid}/task`;
    // /proc/<pid>/task/<tid>/stat: "tid (comm) S …", the state after the last ')'; T = stopped by a signal.
    const state = async (tid: string) =>
      (await fsp.readFile(`${tasks}/${tid}/stat`, 'utf8').catch(() => ') T')).split(') ').pop()?.[0];
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(5)) {
      const states = await Promise.all((await fsp.readdir(tasks)).map(state));
      if (states.every((s) => s === 'T')) return;
    }
    throw new Error('throwaway mariadb: SIGSTOP sent, but its threads did not all stop within 5 s');
  }

  destroy(): Promise<void> {
    // A stopped server would never answer the SIGTERM of stop().
    this.child?.kill('SIGCONT');
    // Memoised so concurrent/repeated calls share one teardown.
    this.destroyed ??= (async () => {
      await this.stop();
      process.removeListener('exit', this.onProcessExit);
      await fsp.rm(this.dir, { recursive: true, force: true });
    })();
    return this.destroyed;
  }

  /** One connection attempt: SELECT 1, and create the 'app' database on first start. */
  private async probe(): Promise<void> {
    const conn = await createConnection({
      host: '127.0.0.1',
      port: this.port,
      user: 'root',
      password: '',
      connectTimeout: 2_000,
    });
    try {
      await conn.query('SELECT 1');
      if (!this.databaseCreated) {
        await conn.query(`CREATE DATABASE IF NOT EXISTS \`${DATABASE}\``);
        this.databaseCreated = true;
      }
    } finally {
      conn.destroy();
    }
  }

  private async logTail(): Promise<string> {
    try {
      const text = await fsp.readFile(this.logFile, 'utf8');
      return `--- ${this.logFile} (tail) ---\n${text.slice(-3000)}`;
    } catch {
      return `(no log at ${this.logFile})`;
    }
  }
}
