import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../../harness/wait-until.js';
import { createRequestLogger, type RequestLogger, type RequestLoggerOptions } from '../../server/log/create-logger.js';

describe('createRequestLogger', () => {
  let dir: string;
  let path: string;
  let fd: number;
  const opened: RequestLogger[] = [];
  const open = (options: Omit<RequestLoggerOptions, 'fd'>): RequestLogger => {
    const log = createRequestLogger({ ...options, fd });
    opened.push(log);
    return log;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'request-log-'));
    path = join(dir, 'out.log');
    fd = openSync(path, 'a');
  });
  afterEach(() => {
    for (const log of opened.splice(0)) log.close();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  const written = () => readFileSync(path, 'utf8');
  const line = (i: number) => ({
    requestId: `req-${i}`,
    method: 'GET',
    route: '/api/me',
    status: 200,
    durationMs: 1.5,
  });

  it('holds lines back, then writes them within the flush interval', async () => {
    const { logger } = open({ level: 'info', base: { role: 'worker' }, flushIntervalMs: 200 });
    logger.info(line(1), 'request');
    assert.equal(written(), '', 'a single line is buffered');
    // Written by the flush timer, nothing else: how late a timer fires on a busy machine is not this test's business.
    await waitUntil(() => written() !== '', { what: 'the line written', timeoutMs: 10_000 });
    const lines = written()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.['requestId'], 'req-1');
    assert.equal(lines[0]?.['role'], 'worker');
  });

  it('writes whole lines in chunks of at most 4096 bytes (one pipe write each), and flush() writes the rest', () => {
    const log = open({ level: 'info', flushIntervalMs: 60_000 });
    let i = 0;
    // Bounded: a synchronous loop that never ended would hang mocha instead of failing.
    while (written() === '' && i < 1000) log.logger.info(line(i++), 'request');
    assert.notEqual(written(), '', `nothing written after ${i} lines`);
    const firstWrite = written();
    assert.ok(firstWrite.length <= 4096, `first write was ${firstWrite.length} bytes`);
    assert.ok(firstWrite.length >= 3072, `first write was ${firstWrite.length} bytes`);
    assert.ok(firstWrite.endsWith('\n'), 'a write ends at a line boundary');
    for (let n = 0; n < 200; n++) log.logger.info(line(i++), 'request');
    assert.ok(written().endsWith('\n'));
    log.flush();
    const ids = written()
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { requestId: string }).requestId);
    assert.deepEqual(
      ids,
      Array.from({ length: i }, (_, n) => `req-${n}`),
      'every line, once, in order',
    );
  });

  it('stops flushing once closed, after writing what it held', async () => {
    const log = open({ level: 'info', flushIntervalMs: 50 });
    log.logger.info(line(1), 'request');
    log.close();
    assert.match(written(), /"requestId":"req-1"/);
    const size = written().length;
    log.logger.info(line(2), 'request');
    await sleep(200);
    assert.equal(written().length, size, 'no periodic flush after close');
  });

  it('writes each line at once when the flush interval is 0', () => {
    const { logger } = open({ level: 'info', flushIntervalMs: 0 });
    logger.info(line(7), 'request');
    assert.match(written(), /"requestId":"req-7"/);
  });
});
