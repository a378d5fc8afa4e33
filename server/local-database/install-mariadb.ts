import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { mariadbdPath } from './spawn-mariadbd.js';

const execFileP = promisify(execFile);

export function mariadbInstalled(): boolean {
  return existsSync(mariadbdPath);
}

/**
 * Installs Debian's mariadb-server as the test set-up does: through `aptGetScript` (scripts/apt-get.sh), which waits
 * for another package manager's lock and keeps Debian from starting the package's own service. Only root with apt-get
 * can; anyone else is told what to do instead.
 */
export async function installMariadb(aptGetScript: string, logger: Logger): Promise<void> {
  const aptGet = await execFileP('sh', ['-c', 'command -v apt-get']).then(
    () => true,
    () => false,
  );
  if (process.getuid?.() !== 0 || !aptGet) {
    throw new Error(
      'MariaDB is not installed, and only root with apt-get can install it here: install mariadb-server, ' +
        'or set DATABASE_URL to a MySQL or MariaDB you have',
    );
  }
  logger.info('installing mariadb-server for the local database (apt-get)');
  const run = (...args: string[]) => execFileP('bash', [aptGetScript, ...args], { maxBuffer: 16 * 1024 * 1024 });
  await run('update', '-qq');
  await run('install', '-y', '-qq', '--no-install-recommends', 'mariadb-server');
}
