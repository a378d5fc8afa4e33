import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/**
 * Makes `datadir` a new MariaDB data directory (mariadb-install-db, `--no-defaults` so /etc/mysql is never read), with
 * root at localhost, 127.0.0.1 and ::1 and no password instead of unix_socket authentication: the app logs in over
 * TCP. `extraArgs` must match the ones mariadbd later starts with where they shape the files (InnoDB's sizes).
 *
 * Built in a staging directory and renamed into place: rename is atomic, so an interrupted run never leaves a
 * half-made datadir that a later start would take for a good one, and of two concurrent runs the loser discards its
 * copy.
 */
export async function initializeDatadir(datadir: string, extraArgs: readonly string[] = []): Promise<void> {
  await fsp.mkdir(dirname(datadir), { recursive: true });
  const staging = await fsp.mkdtemp(`${datadir}.staging-`);
  try {
    await runInstallDb([
      '--no-defaults',
      `--datadir=${staging}`,
      `--user=${userInfo().username}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      ...extraArgs,
    ]);
    try {
      await fsp.rename(staging, datadir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    }
  } finally {
    // Nothing left when the rename succeeded.
    await fsp.rm(staging, { recursive: true, force: true });
  }
}

async function runInstallDb(args: string[]): Promise<void> {
  // The newer name first; mysql_install_db is the older one.
  for (const bin of ['mariadb-install-db', 'mysql_install_db']) {
    try {
      await execFileP(bin, args, { timeout: 120_000 });
      return;
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
      if (e.code === 'ENOENT') continue;
      throw new Error(`${bin} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    }
  }
  throw new Error('neither mariadb-install-db nor mysql_install_db found in PATH');
}
