// The initialised datadir every throwaway MariaDB server starts from (a copy is far quicker than mariadb-install-db).
import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

export const MARIADBD = '/usr/sbin/mariadbd';
// Bump when the install-db arguments change, so stale cached templates are not reused.
const TEMPLATE_LAYOUT = 'v1';
// Must match between template creation and server start, otherwise InnoDB
// resizes the redo log on every start.
export const INNODB_ARGS = ['--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M'];

const execFileP = promisify(execFile);

/**
 * Returns a datadir initialised by mariadb-install-db, cached in os.tmpdir() per
 * mariadbd version. It is built in a staging dir and renamed into place, and
 * rename is atomic, so concurrent processes never see a half-initialised template:
 * the loser of the rename race just discards its copy.
 */
export async function ensureTemplate(): Promise<string> {
  const { stdout } = await execFileP(MARIADBD, ['--version']);
  const version = /Ver\s+(\S+)/.exec(stdout)?.[1] ?? stdout.trim();
  const templateDir = path.join(
    os.tmpdir(),
    `throwaway-mariadb-template-${TEMPLATE_LAYOUT}-${version.replace(/[^A-Za-z0-9._-]/g, '_')}`,
  );
  if (await exists(templateDir)) return templateDir;

  const staging = await fsp.mkdtemp(`${templateDir}.staging-`);
  try {
    const args = [
      '--no-defaults',
      `--datadir=${staging}`,
      `--user=${os.userInfo().username}`,
      // root@localhost/127.0.0.1/::1 with empty password instead of unix_socket auth.
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      ...INNODB_ARGS,
    ];
    await runInstallDb(args);
    try {
      await fsp.rename(staging, templateDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  } finally {
    // No-op when the rename succeeded.
    await fsp.rm(staging, { recursive: true, force: true });
  }
  return templateDir;
}

async function runInstallDb(args: string[]): Promise<void> {
  // Newer name first; mysql_install_db is the legacy alias.
  for (const bin of ['mariadb-install-db', 'mysql_install_db']) {
    try {
      await execFileP(bin, args, { timeout: 60_000 });
      return;
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
      if (e.code === 'ENOENT') continue;
      throw new Error(`${bin} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    }
  }
  throw new Error('neither mariadb-install-db nor mysql_install_db found in PATH');
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}
