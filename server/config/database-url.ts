import type { DbConnectionOptions } from './config.js';
import { ConfigError } from './config-error.js';

/** Splits `mysql://user:password@host:port/database` into mysql2 connection options. */
export function parseDatabaseUrl(raw: string): DbConnectionOptions {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // The value may hold a password: never echo it.
    throw new ConfigError(
      'Invalid configuration: DATABASE_URL is not a valid URL (expected mysql://user:password@host:port/database)',
    );
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new ConfigError(`Invalid configuration: DATABASE_URL must use mysql:// (got ${url.protocol}//)`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) {
    throw new ConfigError(
      'Invalid configuration: DATABASE_URL must name a database of letters, digits, _ or $ (e.g. mysql://root@127.0.0.1:3306/app)',
    );
  }
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 3306 : Number(url.port),
    user: decodeURIComponent(url.username) || 'root',
    password: decodeURIComponent(url.password),
    database,
  };
}
