import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { addressAnswers } from './address-answers.js';
import { initializeDatadir } from './initialize-datadir.js';
import { installMariadb, mariadbInstalled } from './install-mariadb.js';
import { spawnMariadbd, type RunningMariadbd } from './spawn-mariadbd.js';

export interface LocalDatabaseOptions {
  /** The project's git-ignored folder for the server's data, socket, pid file and log (var/mariadb). */
  readonly dir: string;
  /** scripts/apt-get.sh: how this project installs packages. */
  readonly aptGetScript: string;
}

export interface LocalDatabase {
  /** Brings the local MariaDB up when it is wanted (see createLocalDatabase); false when nothing was started. */
  start(): Promise<boolean>;
  /** Stops what `start` started and waits until it has exited; nothing to do otherwise. */
  stop(): Promise<void>;
  /** Tells what `start` started (or is starting) to stop, without waiting: for where nothing can wait. */
  signalStop(): void;
}

/**
 * `npm ci && npm start` on a fresh machine: with DATABASE_URL unset, outside production, and nothing answering at the
 * default address, a MariaDB of the project's own is brought up there (installed first when missing and we can), its
 * data kept in `options.dir` across restarts. Anything else starts nothing: a DATABASE_URL always means that database,
 * and production never runs a database of its own.
 *
 * The server is a child of the service, not a daemon: its owner stops it after the workers have drained, so nothing
 * is left holding the port after Ctrl-C (docs/local-database.md).
 */
export function createLocalDatabase(
  config: Config,
  options: LocalDatabaseOptions,
  deps: { readonly logger: Logger },
): LocalDatabase {
  let server: RunningMariadbd | undefined;
  return {
    async start() {
      if (config.db.urlGiven || config.nodeEnv === 'production') return false;
      const { host, port } = config.db.connection;
      if (await addressAnswers(host, port)) return false;
      const installedNow = !mariadbInstalled();
      if (installedNow) await installMariadb(options.aptGetScript, deps.logger);
      const datadir = join(options.dir, 'data');
      const datadirCreated = !existsSync(datadir);
      if (datadirCreated) await initializeDatadir(datadir);
      server = spawnMariadbd({ datadir, runDir: options.dir, host, port });
      await server.ready;
      deps.logger.info(
        { host, port, pid: server.pid, datadir, datadirCreated, installedNow, log: server.logFile },
        `DATABASE_URL is not set and nothing answered at ${host}:${port}: started a local MariaDB there, which stops ` +
          'with the service and keeps its data for the next start',
      );
      return true;
    },
    stop: () => server?.stop() ?? Promise.resolve(),
    signalStop: () => server?.signalStop(),
  };
}
