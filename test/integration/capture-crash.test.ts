// Invariant 7 for the relay: SIGKILL at any moment, restart, and nothing committed is lost.
// Duplicates are allowed (at-least-once) and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import {
  KV_DDL,
  checkKvEvents,
  freshDatabase,
  randomKvWorkload,
  readEvents,
  spawnRelay,
  waitForDrain,
  writeConfigFile,
  type RelayProcess,
} from './capture-support.ts';

test('relay killed with SIGKILL several times during 20,000 random transactions: restarted, nothing is lost', async () => {
  const fx = await freshDatabase('crash', [KV_DDL]);
  let relay: RelayProcess | undefined;
  try {
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    const { file, config } = writeConfigFile(fx.stack, fx.database, { batchSize: 300 });
    relay = spawnRelay(file);
    await relay.waitFor(/holding the source lock/);

    let kills = 0;
    let killing = true;
    // Kill the relay every 2–3.5 s, whatever it is doing, and start a new one at once.
    const killer = (async () => {
      while (killing) {
        await new Promise((r) => setTimeout(r, 2000 + Math.random() * 1500));
        if (!killing) break;
        relay!.child.kill('SIGKILL');
        await relay!.exited;
        kills++;
        relay = spawnRelay(file);
      }
    })();
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
    killing = false;
    await killer;
    await relay.waitFor(/holding the source lock/);
    await waitForDrain(fx.conn, fx.database, 90_000);
    relay.child.kill('SIGTERM');
    assert.equal(await relay.exited, 0, 'the relay did not exit cleanly on SIGTERM');

    const published = await readEvents(config, ['kv']);
    const check = await checkKvEvents(fx.conn, published, work);
    console.log(
      `crash: ${kills} SIGKILLs, ${work.commits} commits, ${work.rollbacks + work.errors} rolled back, ${check.events} events published, ` +
        `${check.duplicates} duplicates (${((100 * check.duplicates) / check.events).toFixed(2)} %), ${check.keys} keys`,
    );
    assert.ok(kills >= 3, `only ${kills} kills happened during the workload`);
  } finally {
    relay?.child.kill('SIGKILL');
    await fx.close();
  }
});
