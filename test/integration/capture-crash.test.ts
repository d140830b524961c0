// Invariant 7 for the capture (the trigger relay and the binlog reader, each run as `syncline
// capture`): SIGKILL at any moment, restart, and nothing committed is lost; every key's replayed
// final state equals the table. Duplicates are allowed (at-least-once) and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureBinlogStartPosition } from '../../src/capture/binlog/index.ts';
import {
  CAPTURE_MODES,
  KV_DDL,
  checkKvEvents,
  freshDatabase,
  prepareCapture,
  randomKvWorkload,
  readEvents,
  spawnRelay,
  synclineTriggers,
  waitForCaptureProcess,
  writeConfigFile,
  type CaptureMode,
  type RelayProcess,
} from './capture-support.ts';

for (const mode of CAPTURE_MODES)
  test(`${mode} capture killed with SIGKILL several times during 20,000 random transactions: restarted, nothing is lost`, async () => {
    await crashRun(mode);
  });

async function crashRun(mode: CaptureMode): Promise<void> {
  const fx = await freshDatabase('crash', [KV_DDL]);
  let relay: RelayProcess | undefined;
  try {
    await prepareCapture(mode, fx.conn, fx.database);
    const { file, config } = writeConfigFile(fx.stack, fx.database, { batchSize: 300, capture: mode });
    if (mode === 'binlog') await ensureBinlogStartPosition(config);
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
    await waitForCaptureProcess(config, fx.conn, 90_000);
    if (mode === 'binlog') assert.deepEqual(await synclineTriggers(fx.conn, fx.database), []);
    relay.child.kill('SIGTERM');
    assert.equal(await relay.exited, 0, 'the relay did not exit cleanly on SIGTERM');

    const published = await readEvents(config, ['kv']);
    const check = await checkKvEvents(fx.conn, published, work);
    console.log(
      `crash (${mode}): ${kills} SIGKILLs, ${work.commits} commits, ${work.rollbacks + work.errors} rolled back, ${check.events} events published, ` +
        `${check.duplicates} duplicates (${((100 * check.duplicates) / check.events).toFixed(2)} %), ${check.keys} keys`,
    );
    assert.ok(kills >= 3, `only ${kills} kills happened during the workload`);
  } finally {
    relay?.child.kill('SIGKILL');
    await fx.close();
  }
}
