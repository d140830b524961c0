// A relay started before the triggers exist says what to do and starts publishing once they are
// installed; its counters reflect what it published.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import { createCaptureMetrics } from '../../src/capture/metrics.ts';
import { Relay } from '../../src/capture/trigger/relay.ts';
import { KV_DDL, freshDatabase, readEvents, waitForDrain } from './capture-support.ts';

test('a relay started before triggers install names the fix, then publishes once they exist, and counts per table', async () => {
  const fx = await freshDatabase('startup', [KV_DDL]);
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const metrics = createCaptureMetrics();
  const relay = new Relay(fx.config, { logger: pino({ level: 'info' }, sink), metrics, statusFile: false });
  const running = relay.run();
  try {
    const deadline = Date.now() + 10_000;
    while (!lines.some((l) => l.includes('run `syncline triggers install` first'))) {
      assert.ok(Date.now() < deadline, `no helpful message; got:\n${lines.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    await fx.conn.query("INSERT INTO kv VALUES (1, 10, 'a'), (2, 20, 'b')");
    await fx.conn.query('UPDATE kv SET v = 11 WHERE k = 1');
    await waitForDrain(fx.conn, fx.database, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    const text = await metrics.registry.metrics();
    assert.match(text, /syncline_capture_events_total\{table="kv",op="c"\} 2/);
    assert.match(text, /syncline_capture_events_total\{table="kv",op="u"\} 1/);
    assert.match(text, /syncline_capture_active 1/);
    assert.match(text, /syncline_capture_lag_seconds \d/);
    assert.match(text, /syncline_capture_batch_seconds_count [1-9]/);
  } finally {
    relay.stop();
    await running;
  }
  try {
    assert.equal((await readEvents(fx.config, ['kv'])).length, 3);
    assert.match(await metrics.registry.metrics(), /syncline_capture_active 0/);
  } finally {
    await fx.close();
  }
});

test('while Kafka is unreachable the relay deletes nothing from the changelog, and drains it once Kafka is back', async () => {
  const fx = await freshDatabase('nokafka', [KV_DDL]);
  await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
  await fx.conn.query("INSERT INTO kv VALUES (1, 1, 'x'), (2, 2, 'y')");
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  // A port nothing listens on stands in for a broker that is down.
  const broken = { ...fx.config, kafka: { ...fx.config.kafka, brokers: ['127.0.0.1:1'] } };
  const relay = new Relay(broken, {
    logger: pino({ level: 'info' }, sink),
    metrics: createCaptureMetrics(),
    statusFile: false,
  });
  const running = relay.run();
  try {
    const deadline = Date.now() + 30_000;
    while (lines.filter((l) => l.includes('relay error')).length < 2) {
      assert.ok(Date.now() < deadline, `no produce failure reported; got:\n${lines.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [rows] = await fx.conn.query('SELECT COUNT(*) AS n FROM _syncline_changelog');
    assert.equal(
      Number((rows as Array<{ n: number }>)[0]!.n),
      2,
      'rows were deleted although Kafka never acknowledged them',
    );
  } finally {
    relay.stop();
    await running;
  }
  try {
    const healthy = new Relay(fx.config, {
      logger: pino({ level: 'warn' }),
      metrics: createCaptureMetrics(),
      statusFile: false,
    });
    const again = healthy.run();
    await waitForDrain(fx.conn, fx.database, 20_000);
    healthy.stop();
    await again;
    assert.equal((await readEvents(fx.config, ['kv'])).length, 2);
  } finally {
    await fx.close();
  }
});
