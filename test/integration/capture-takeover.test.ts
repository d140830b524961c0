// One active relay per source: a second one waits on the named lock and takes over within
// seconds when the active one dies; SIGTERM ends a relay cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import {
  KV_DDL,
  freshDatabase,
  readEvents,
  spawnRelay,
  waitForDrain,
  writeConfigFile,
  type RelayProcess,
} from './capture-support.ts';

test('two relays: only one publishes; when it is SIGKILLed the other takes over within a few seconds', async () => {
  const fx = await freshDatabase('takeover', [KV_DDL]);
  const relays: RelayProcess[] = [];
  try {
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    const { file, config } = writeConfigFile(fx.stack, fx.database);
    const first = spawnRelay(file);
    relays.push(first);
    await first.waitFor(/holding the source lock/);
    const second = spawnRelay(file);
    relays.push(second);
    await second.waitFor(/standby: another relay/);

    await fx.conn.query("INSERT INTO kv VALUES (1, 1, 'before takeover')");
    await waitForDrain(fx.conn, fx.database, 20_000);
    assert.ok(
      !second.lines.some((l) => /holding the source lock/.test(l)),
      'the waiting relay became active while the first was alive',
    );

    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    await fx.conn.query("INSERT INTO kv VALUES (2, 2, 'after takeover')");
    await second.waitFor(/holding the source lock/, 15_000);
    await waitForDrain(fx.conn, fx.database, 15_000);
    const takeoverMs = Date.now() - killedAt;
    console.log(`takeover: the standby relay published ${takeoverMs} ms after the active one was killed`);
    assert.ok(takeoverMs < 5000, `takeover took ${takeoverMs} ms`);

    const events = await readEvents(config, ['kv']);
    assert.deepEqual(events.map((e) => e.key).sort(), ['{"k":1}', '{"k":2}']);

    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, 'SIGTERM did not end the relay cleanly');
    assert.ok(second.lines.some((l) => /relay stopped/.test(l)));
  } finally {
    for (const r of relays) r.child.kill('SIGKILL');
    await fx.close();
  }
});
