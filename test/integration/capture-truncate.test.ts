// TRUNCATE TABLE runs no DELETE trigger. The relay notices it (new InnoDB table id) and publishes a
// `t` event on every partition, then reloads the table: applying the published stream in order
// must give exactly the table's rows, whether the relay ran through the TRUNCATE or was down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { Config } from '../../src/config/load.ts';
import { createCaptureMetrics } from '../../src/capture/metrics.ts';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import { Relay } from '../../src/capture/trigger/relay.ts';
import { truncatesSettled } from '../../src/capture/trigger/truncate.ts';
import {
  changelogCount,
  freshDatabase,
  quietLogger,
  readEvents,
  type PublishedEvent,
} from './capture-support.ts';

const DDL = ['CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v VARCHAR(20) NOT NULL)'];

function startRelay(config: Config): { relay: Relay; running: Promise<void> } {
  const relay = new Relay(config, {
    logger: quietLogger,
    metrics: createCaptureMetrics(),
    statusFile: false,
  });
  return { relay, running: relay.run() };
}

async function settled(conn: Connection, database: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Twice in a row: a TRUNCATE is noticed at the relay's next look, up to a couple of seconds on.
  let quiet = 0;
  while (quiet < 2) {
    if (Date.now() > deadline) throw new Error(`truncate not settled within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1500));
    const done = (await changelogCount(conn, database)) === 0 && (await truncatesSettled(conn, database));
    quiet = done ? quiet + 1 : 0;
  }
}

/** Applies the stream as a version-guarded sink would: newest seq per key, `t` drops older rows. */
function applyInOrder(events: PublishedEvent[]): Map<string, { seq: bigint; v: unknown }> {
  const rows = new Map<string, { seq: bigint; v: unknown }>();
  const deleted = new Map<string, bigint>();
  let floor = -1n;
  const sorted = [...events].sort((a, b) => {
    const x = BigInt(a.event.source.seq);
    const y = BigInt(b.event.source.seq);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (const { key, event } of sorted) {
    const seq = BigInt(event.source.seq);
    if (event.op === ('t' as string)) {
      for (const [k, r] of rows) if (r.seq < seq) rows.delete(k);
      floor = seq > floor ? seq : floor;
      continue;
    }
    if (seq < floor) continue;
    const held = rows.get(key)?.seq ?? deleted.get(key) ?? -1n;
    if (seq <= held) continue;
    if (event.op === 'd') {
      rows.delete(key);
      deleted.set(key, seq);
    } else rows.set(key, { seq, v: event.after?.v });
  }
  return rows;
}

async function tableRows(conn: Connection): Promise<Record<string, unknown>> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT id, v FROM t ORDER BY id');
  return Object.fromEntries(rows.map((r) => [JSON.stringify({ id: r.id }), r.v]));
}

function modelRows(model: Map<string, { seq: bigint; v: unknown }>): Record<string, unknown> {
  return Object.fromEntries([...model].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, r]) => [k, r.v]));
}

/** Runs a relay until everything is settled, then: a `t` was published and the stream applies to exactly the table. */
async function relayUntilSettledThenCompare(f: Awaited<ReturnType<typeof freshDatabase>>): Promise<void> {
  const r = startRelay(f.config);
  try {
    await settled(f.conn, f.database);
  } finally {
    r.relay.stop();
    await r.running;
  }
  const events = await readEvents(f.config, ['t']);
  assert.ok(
    events.some((e) => e.event.op === ('t' as string)),
    'a t event was published',
  );
  assert.deepEqual(modelRows(applyInOrder(events)), await tableRows(f.conn));
}

test('a TRUNCATE while the relay runs becomes a t event on every partition, and the rows written after it survive', async () => {
  const f = await freshDatabase('trunc_live', DDL);
  try {
    await installTriggers(f.conn, await capturedTables(f.conn, f.database, '*'));
    const { relay, running } = startRelay(f.config);
    try {
      await f.conn.query("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e')");
      await f.conn.query("UPDATE t SET v = 'bb' WHERE id = 2");
      await settled(f.conn, f.database);
      // Rows written right after the TRUNCATE carry changelog ids below the marker the relay
      // writes when it notices: the reload must bring them back.
      await f.conn.query('TRUNCATE TABLE t');
      await f.conn.query("INSERT INTO t VALUES (6,'f'),(2,'again')");
      await settled(f.conn, f.database);
      await f.conn.query("INSERT INTO t VALUES (7,'g')");
      await f.conn.query('DELETE FROM t WHERE id = 6');
      await settled(f.conn, f.database);
    } finally {
      relay.stop();
      await running;
    }
    const events = await readEvents(f.config, ['t']);
    const truncates = events.filter((e) => e.event.op === ('t' as string));
    assert.equal(truncates.length, 3, 'one t event per partition of the topic');
    assert.deepEqual(new Set(truncates.map((e) => e.partition)), new Set([0, 1, 2]));
    assert.ok(
      truncates.every((e) => e.key === null || e.key === undefined || e.key === ''),
      'no key',
    );
    assert.equal(new Set(truncates.map((e) => e.event.source.seq)).size, 1, 'the same seq on every copy');
    assert.deepEqual(modelRows(applyInOrder(events)), await tableRows(f.conn));
  } finally {
    await f.close();
  }
});

test('a TRUNCATE while the relay was down is noticed when it starts again', async () => {
  const f = await freshDatabase('trunc_down', DDL);
  try {
    await installTriggers(f.conn, await capturedTables(f.conn, f.database, '*'));
    const r = startRelay(f.config);
    await f.conn.query("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')");
    await settled(f.conn, f.database);
    r.relay.stop();
    await r.running;
    await f.conn.query('TRUNCATE TABLE t');
    await f.conn.query("INSERT INTO t VALUES (3,'new')");
    await relayUntilSettledThenCompare(f);
  } finally {
    await f.close();
  }
});

test('a TRUNCATE after the triggers went in but before the relay ever ran still reaches the stream', async () => {
  // The first CI failure of the capture fuzz test: the relay's first look took the truncated
  // table's id as the baseline, so rows captured before the TRUNCATE stayed in the stream.
  const f = await freshDatabase('trunc_first', DDL);
  try {
    await installTriggers(f.conn, await capturedTables(f.conn, f.database, '*'));
    await f.conn.query("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')");
    await f.conn.query('TRUNCATE TABLE t');
    await f.conn.query("INSERT INTO t VALUES (3,'new')");
    await relayUntilSettledThenCompare(f);
  } finally {
    await f.close();
  }
});

test('a rebuilding ALTER never loses rows: the stream still applies to exactly the table', async () => {
  const f = await freshDatabase('trunc_alter', DDL);
  try {
    await installTriggers(f.conn, await capturedTables(f.conn, f.database, '*'));
    const { relay, running } = startRelay(f.config);
    try {
      await f.conn.query("INSERT INTO t VALUES (1,'a'),(2,'b')");
      await settled(f.conn, f.database);
      await f.conn.query('ALTER TABLE t FORCE');
      await f.conn.query("INSERT INTO t VALUES (3,'c')");
      await settled(f.conn, f.database);
    } finally {
      relay.stop();
      await running;
    }
    assert.deepEqual(modelRows(applyInOrder(await readEvents(f.config, ['t']))), await tableRows(f.conn));
  } finally {
    await f.close();
  }
});
