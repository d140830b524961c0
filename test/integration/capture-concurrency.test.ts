// Invariant 6: concurrent writers whose transactions commit out of changelog-id order lose
// nothing; per key, the published events are exactly the committed changes in commit order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import { createCaptureMetrics } from '../../src/capture/metrics.ts';
import { Relay } from '../../src/capture/trigger/relay.ts';
import {
  KV_DDL,
  changelogCount,
  checkKvEvents,
  freshDatabase,
  randomKvWorkload,
  readEvents,
  testConfig,
} from './capture-support.ts';

test('8 writers, 20,000 random transactions with rollbacks and late commits: every key sees exactly its committed changes in order', async () => {
  const fx = await freshDatabase('concurrency', [KV_DDL]);
  try {
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    // One partition: Kafka's offset order is then the relay's publish order, which lets the test
    // see that late commits (lower ids published after higher ones) really happened.
    const config = testConfig(fx.stack, fx.database, { batchSize: 2000 });
    config.kafka.partitions = 1;
    const relay = new Relay(config, {
      logger: pino({ level: process.env.SYNCLINE_TEST_LOG ?? 'warn' }),
      metrics: createCaptureMetrics(),
      statusFile: false,
    });
    const running = relay.run();

    const work = await randomKvWorkload({
      url: fx.stack.mysqlUrl,
      database: fx.database,
      connections: 8,
      transactions: 20_000,
      keys: 300,
      rollbackRate: 0.1,
      holdRate: 0.05,
      holdMs: [20, 150],
      stragglerHoldMs: 300,
    });
    const deadline = Date.now() + 60_000;
    while ((await changelogCount(fx.conn, fx.database)) > 0) {
      assert.ok(Date.now() < deadline, 'relay did not drain the changelog within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    relay.stop();
    await running;

    const published = await readEvents(config, ['kv']);
    const check = await checkKvEvents(fx.conn, published, work);
    console.log(
      `concurrency: ${work.commits} commits, ${work.rollbacks} rollbacks, ${work.errors} failed transactions, ${work.pkChanges} with PK changes, ` +
        `${check.events} events over ${check.keys} keys, ${check.lateCommits} published after a higher id, ${check.duplicates} duplicates, ${work.elapsedMs} ms`,
    );
    assert.ok(work.commits + work.rollbacks + work.errors >= 20_000);
    assert.ok(
      work.rollbacks > 1000 && work.pkChanges > 100,
      'the workload did not exercise rollbacks and key changes',
    );
    assert.ok(
      check.lateCommits > 0,
      'no transaction committed out of id order: the test did not exercise the hard case',
    );
    assert.equal(check.duplicates, 0, 'a relay that never crashed published something twice');
  } finally {
    await fx.close();
  }
});
