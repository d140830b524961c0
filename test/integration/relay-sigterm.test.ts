// SIGTERM in the middle of a drain: the batch in flight is finished (acknowledged and deleted)
// before the relay exits, so a successor publishes no duplicates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import {
  KV_DDL,
  changelogCount,
  freshDatabase,
  readEvents,
  spawnRelay,
  waitForDrain,
  writeConfigFile,
} from './capture-support.ts';

test('SIGTERM during a drain finishes the batch in flight: no event is published twice', async () => {
  const fx = await freshDatabase('sigterm', [KV_DDL]);
  try {
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    for (let i = 0; i < 20; i++) {
      const values = Array.from({ length: 2000 }, (_, j) => `(${i * 2000 + j}, ${j}, 'x')`).join(',');
      await fx.conn.query(`INSERT INTO kv VALUES ${values}`);
    }
    const { file, config } = writeConfigFile(fx.stack, fx.database, { batchSize: 1000 });
    const first = spawnRelay(file, 'debug');
    await first.waitFor(/batch published/);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    const left = await changelogCount(fx.conn, fx.database);
    assert.ok(left > 0 && left < 40_000, `expected the drain to be interrupted, ${left} rows left`);
    assert.equal(left % 1000, 0, `a batch was half deleted: ${left} rows left`);

    const second = spawnRelay(file);
    await waitForDrain(fx.conn, fx.database, 60_000);
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);

    const events = await readEvents(config, ['kv']);
    const seqs = events.map((e) => e.event.source.seq);
    assert.equal(new Set(seqs).size, 40_000);
    assert.equal(seqs.length, 40_000, `${seqs.length - 40_000} events were published twice`);
  } finally {
    await fx.close();
  }
});
