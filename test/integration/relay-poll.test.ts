// The relay's idle poll interval bounds how long it sleeps on an empty changelog, not how late a
// change committed while it is busy gets published: after a poll that found rows it polls again
// within a few ms and backs off by doubling (src/capture/trigger/relay.ts, decision 0106).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import { createCaptureMetrics } from '../../src/capture/metrics.ts';
import { Relay } from '../../src/capture/trigger/relay.ts';
import type { Config } from '../../src/config/load.ts';
import { KV_DDL, freshDatabase, quietLogger, readEvents, waitForDrain } from './capture-support.ts';

test('with a 4 s idle poll interval, rows written every 50 ms reach Kafka within a fraction of it', async () => {
  const fx = await freshDatabase('relaypoll', [KV_DDL]);
  try {
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    const config: Config = {
      ...fx.config,
      source: { ...fx.config.source, relay: { ...fx.config.source.relay, pollIntervalMs: 4000 } },
    };
    const relay = new Relay(config, {
      logger: quietLogger,
      metrics: createCaptureMetrics(),
      statusFile: false,
    });
    const running = relay.run();
    const rows = 40;
    try {
      for (let k = 1; k <= rows; k++) {
        await fx.conn.query('INSERT INTO kv VALUES (?, ?, ?)', [k, k, 'paced']);
        await sleep(50);
      }
      await waitForDrain(fx.conn, fx.database, 30_000);
    } finally {
      relay.stop();
      await running;
    }
    // source.ts_ms is when the trigger wrote the change, ts_ms when the relay built its event.
    const delays = (await readEvents(config, ['kv']))
      .map((e) => e.event.ts_ms - e.event.source.ts_ms)
      .sort((a, b) => a - b);
    assert.equal(delays.length, rows);
    const median = delays[rows / 2]!;
    // A relay that slept the whole interval after each empty poll left the median near 2 s.
    assert.ok(median < 1000, `median change → event ${median} ms; all: ${delays.join(', ')}`);
  } finally {
    await fx.close();
  }
});
