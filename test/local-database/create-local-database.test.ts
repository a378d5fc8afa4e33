import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../harness/free-port.js';
import { silentLogger, testConnection } from '../../harness/test-database.js';
import type { Config } from '../../server/config/config.js';
import { deepFreeze, loadConfig } from '../../server/config/load-config.js';
import { addressAnswers } from '../../server/local-database/address-answers.js';
import { createLocalDatabase } from '../../server/local-database/create-local-database.js';

/*
 * When npm start does not bring up a MariaDB of its own: a DATABASE_URL always means that database, production never
 * starts one, and a database already answering at the default address is used as it is. (That it does bring one up
 * on a fresh machine: test/ops/fresh-machine-start.test.ts.) Each case points the default address at a port of the
 * test's choosing and checks that nothing was started there and nothing written to the project folder.
 */

describe('the local MariaDB of npm start', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'local-database-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A config from `env` whose database address (the default one, or DATABASE_URL's) is host:`port`. */
  function configAt(port: number, env: Record<string, string>, host = '127.0.0.1'): Config {
    const parsed = loadConfig(env);
    return deepFreeze({ ...parsed, db: { ...parsed.db, connection: { ...parsed.db.connection, host, port } } });
  }
  const start = (config: Config) =>
    createLocalDatabase(config, { dir, aptGetScript: '/nonexistent/apt-get.sh' }, { logger: silentLogger }).start();

  it('is never started when DATABASE_URL is set, even to the default address with nothing there', async () => {
    const port = await freePort();
    const config = configAt(port, { DATABASE_URL: `mysql://root@127.0.0.1:${port}/app` });
    assert.equal(config.db.urlGiven, true);
    assert.equal(await start(config), false);
    assert.equal(await addressAnswers('127.0.0.1', port), false, 'nothing listens there');
    assert.deepEqual(readdirSync(dir), []);
  });

  it('is never started in production', async () => {
    const port = await freePort();
    assert.equal(await start(configAt(port, { NODE_ENV: 'production' })), false);
    assert.equal(await addressAnswers('127.0.0.1', port), false, 'nothing listens there');
    assert.deepEqual(readdirSync(dir), []);
  });

  it('is not started when a database already answers at the default address', async () => {
    const { host, port } = testConnection('app');
    const config = configAt(port, {}, host);
    assert.equal(config.db.urlGiven, false);
    assert.equal(await start(config), false);
    assert.deepEqual(readdirSync(dir), []);
  });
});
