import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequestLogger } from '../../server/log/create-logger.js';

describe('createRequestLogger', () => {
  let dir: string;
  let path: string;
  let fd: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'request-log-'));
    path = join(dir, 'out.log');
    fd = openSync(path, 'a');
  });
  afterEach(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  const written = () => readFileSync(path, 'utf8');
  const line = (i: number) => ({ requestId: `req-${i}`, method: 'GET', route: '/api/me', status: 200, durationMs: 1.5 });

  it('holds lines back, then writes them within the flush interval', async () => {
    const { logger } = createRequestLogger({ level: 'info', base: { role: 'worker' }, flushIntervalMs: 200, fd });
    logger.info(line(1), 'request');
    assert.equal(written(), '', 'a single line is buffered');
    await sleep(450);
    const lines = written().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.['requestId'], 'req-1');
    assert.equal(lines[0]?.['role'], 'worker');
  });

  it('writes whole lines in chunks of at most 4096 bytes (one pipe write each), and flush() writes the rest', () => {
    const log = createRequestLogger({ level: 'info', flushIntervalMs: 60_000, fd });
    let i = 0;
    while (written() === '') log.logger.info(line(i++), 'request');
    const firstWrite = written();
    assert.ok(firstWrite.length <= 4096, `first write was ${firstWrite.length} bytes`);
    assert.ok(firstWrite.length >= 3072, `first write was ${firstWrite.length} bytes`);
    assert.ok(firstWrite.endsWith('\n'), 'a write ends at a line boundary');
    for (let n = 0; n < 200; n++) log.logger.info(line(i++), 'request');
    assert.ok(written().endsWith('\n'));
    log.flush();
    const ids = written().trim().split('\n').map((l) => (JSON.parse(l) as { requestId: string }).requestId);
    assert.deepEqual(ids, Array.from({ length: i }, (_, n) => `req-${n}`), 'every line, once, in order');
  });

  it('writes each line at once when the flush interval is 0', () => {
    const { logger } = createRequestLogger({ level: 'info', flushIntervalMs: 0, fd });
    logger.info(line(7), 'request');
    assert.match(written(), /"requestId":"req-7"/);
  });
});
