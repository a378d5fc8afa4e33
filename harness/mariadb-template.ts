// The initialised datadir every throwaway MariaDB server starts from (a copy is far quicker than mariadb-install-db).
import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { initializeDatadir } from '../server/local-database/initialize-datadir.js';
import { mariadbdPath } from '../server/local-database/spawn-mariadbd.js';

export const MARIADBD = mariadbdPath;
// Bump when the install-db arguments change, so stale cached templates are not reused.
const TEMPLATE_LAYOUT = 'v1';
// Must match between template creation and server start, otherwise InnoDB
// resizes the redo log on every start.
export const INNODB_ARGS = ['--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M'];

const execFileP = promisify(execFile);

/**
 * Returns a datadir initialised by mariadb-install-db, cached in os.tmpdir() per mariadbd version; initializeDatadir
 * (the one npm start's local MariaDB uses) builds it where concurrent processes never see half a template.
 */
export async function ensureTemplate(): Promise<string> {
  const { stdout } = await execFileP(MARIADBD, ['--version']);
  const version = /Ver\s+(\S+)/.exec(stdout)?.[1] ?? stdout.trim();
  const templateDir = path.join(
    os.tmpdir(),
    `throwaway-mariadb-template-${TEMPLATE_LAYOUT}-${version.replace(/[^A-Za-z0-9._-]/g, '_')}`,
  );
  if (await exists(templateDir)) return templateDir;

  await initializeDatadir(templateDir, INNODB_ARGS);
  return templateDir;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}
