/**
 * The snapshot, at the Kafka level: its `r` events interleave with concurrent changes so that a
 * version-guarded sink ends equal to the table (invariant 5), and a snapshot killed half way
 * resumes after its last finished chunk, copying every row exactly once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { resetSnapshot, snapshotState, snapshotTable } from '../../src/capture/snapshot/snapshot.ts';
import { CHANGELOG_TABLE } from '../../src/capture/trigger/ddl.ts';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import { Relay } from '../../src/capture/trigger/relay.ts';
import { createCaptureMetrics } from '../../src/capture/metrics.ts';
import { keyExpression, rowImageExpression } from '../../src/model/row-image-sql.ts';
import type { TableSchema } from '../../src/model/types.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import {
  changelogCount,
  freshDatabase,
  KV_DDL,
  quietLogger,
  randomKvWorkload,
  readEvents,
  type PublishedEvent,
} from './capture-support.ts';

const canonical = (json: string | Record<string, unknown>) =>
  JSON.stringify(typeof json === 'string' ? JSON.parse(json) : json);

/** What a version-guarded sink holds after applying the events in partition order. */
function applyGuarded(events: PublishedEvent[]): Map<string, Record<string, unknown>> {
  const state = new Map<string, { seq: bigint; row: Record<string, unknown> | null }>();
  for (const { key, event } of events) {
    const k = canonical(key);
    const seq = BigInt(event.source.seq);
    const current = state.get(k);
    if (current && current.seq >= seq) continue; // stale: the sink holds something newer
    state.set(k, { seq, row: event.op === 'd' ? null : event.after });
  }
  const rows = new Map<string, Record<string, unknown>>();
  for (const [k, v] of state) if (v.row) rows.set(k, v.row);
  return rows;
}

async function tableImages(
  conn: Connection,
  table: TableSchema,
): Promise<Map<string, Record<string, unknown>>> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT ${keyExpression(table, null)} AS k, ${rowImageExpression(table, null)} AS img FROM ${quoteId(table.database)}.${quoteId(table.name)}`,
  );
  // mysql2 parses JSON-typed results itself; accept text too.
  const obj = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, unknown>;
  return new Map(rows.map((r) => [canonical(obj(r.k)), obj(r.img)]));
}

async function seedKv(conn: Connection, rows: number): Promise<void> {
  for (let start = 1; start <= rows; start += 1000) {
    const values = Array.from(
      { length: Math.min(1000, rows - start + 1) },
      (_, i) => `(${start + i}, ${-(start + i)}, 'seed')`,
    );
    await conn.query(`INSERT INTO kv (k, v, note) VALUES ${values.join(',')}`);
  }
}

test('a snapshot taken while 4 writers change the table leaves a version-guarded sink equal to the table', async () => {
  const fx = await freshDatabase('snap_concurrent', [KV_DDL]);
  try {
    await seedKv(fx.conn, 6000);
    const [kv] = await capturedTables(fx.conn, fx.database, ['kv']);
    await installTriggers(fx.conn, [kv!]);

    const relay = new Relay(fx.config, {
      logger: quietLogger,
      metrics: createCaptureMetrics(),
      statusFile: false,
    });
    const relayRun = relay.run();
    const work = randomKvWorkload({
      url: fx.stack.mysqlUrl,
      database: fx.database,
      connections: 4,
      transactions: 3000,
      keys: 7000, // updates, deletes and PK changes hit seeded rows; inserts add new keys
      rollbackRate: 0.1,
      holdRate: 0.05,
      holdMs: [5, 40],
      seed: 11,
    });
    const snapConn = await (
      await import('../../src/mysql/connect.ts')
    ).connect({ url: fx.stack.mysqlUrl, database: fx.database });
    const progress = await snapshotTable(snapConn, kv!, { chunkSize: 250 });
    await snapConn.end();
    const workload = await work;
    // The running relay drains what is left. (A second relay started after it may find nothing to
    // publish, which drainWithRelay would wait for in vain.)
    for (let i = 0; (await changelogCount(fx.conn, fx.database)) > 0; i++) {
      assert.ok(i < 600, 'the relay should drain the changelog within a minute');
      await new Promise((r) => setTimeout(r, 100));
    }
    relay.stop();
    await relayRun;

    const events = await readEvents(fx.config, ['kv']);
    const snapshotEvents = events.filter((e) => e.event.op === 'r');
    assert.ok(progress.done);
    assert.equal(snapshotEvents.length, progress.rowsDone, 'every copied row was published once');
    assert.ok(snapshotEvents.every((e) => e.event.source.capture === 'snapshot' && e.event.before === null));
    console.log(
      `# snapshot: ${progress.rowsDone} rows in ${progress.chunksDone} chunks while ${workload.commits} transactions committed (${workload.rollbacks + workload.errors} rolled back)`,
    );

    const sink = applyGuarded(events);
    const table = await tableImages(fx.conn, kv!);
    const missing = [...table.keys()].filter((k) => !sink.has(k));
    const extra = [...sink.keys()].filter((k) => !table.has(k));
    const different = [...table.keys()].filter(
      (k) => sink.has(k) && canonical(sink.get(k)!) !== canonical(table.get(k)!),
    );
    assert.deepEqual(
      { missing: missing.slice(0, 5), extra: extra.slice(0, 5), different: different.slice(0, 5) },
      { missing: [], extra: [], different: [] },
    );
    assert.equal(sink.size, table.size);
  } finally {
    await fx.close();
  }
});

test('a snapshot killed with SIGKILL half way resumes after its last finished chunk and copies every row exactly once', async () => {
  const fx = await freshDatabase('snap_resume', [KV_DDL]);
  try {
    await seedKv(fx.conn, 20000);
    const [kv] = await capturedTables(fx.conn, fx.database, ['kv']);
    await installTriggers(fx.conn, [kv!]);
    const dir = mkdtempSync(join(tmpdir(), 'syncline-snap-'));
    const configFile = join(dir, 'syncline.yaml');
    writeFileSync(
      configFile,
      `source:\n  url: ${fx.stack.mysqlUrl}\n  database: ${fx.database}\n  tables: [kv]\n`,
    );
    const cli = (extra: string[]) =>
      spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(PROJECT_ROOT, 'src/cli/main.ts'),
          '--config',
          configFile,
          '--state-dir',
          fx.stack.stateDir,
          'snapshot',
          '--chunk-size',
          '100',
          ...extra,
        ],
        {
          cwd: PROJECT_ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );

    const first = cli([]);
    // Kill it once a few chunks are done but long before the end.
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      const state = await snapshotState(fx.conn, 'kv');
      if (state.rowsDone >= 2000) break;
      assert.equal(first.exitCode, null, 'the snapshot must still be running when we kill it');
    }
    first.kill('SIGKILL');
    await new Promise((r) => first.once('close', r));
    const interrupted = await snapshotState(fx.conn, 'kv');
    assert.equal(interrupted.status, 'running');
    assert.ok(
      interrupted.rowsDone > 0 && interrupted.rowsDone < 20000,
      `killed at ${interrupted.rowsDone} rows`,
    );

    const second = cli(['--json']);
    let stdout = '';
    second.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const code = await new Promise((r) => second.once('close', r));
    assert.equal(code, 0);
    const [summary] = JSON.parse(stdout) as { rows: number; resumedFrom: number }[];
    assert.equal(
      summary!.resumedFrom,
      interrupted.rowsDone,
      'the second run starts after the last finished chunk',
    );
    assert.equal(summary!.rows, 20000);

    const [counts] = await fx.conn.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n, COUNT(DISTINCT pk) AS keys_ FROM ${quoteId(CHANGELOG_TABLE)} WHERE op = 'r'`,
    );
    assert.equal(Number(counts[0]!.n), 20000, 'no chunk copied twice');
    assert.equal(Number(counts[0]!.keys_), 20000, 'no row left out');
  } finally {
    await fx.close();
  }
});

test('writers inserting new keys into the chunk being copied never fail: snapshots of a single and a composite key back to back fail none of 4 writers', async () => {
  const fx = await freshDatabase('snap_writers', [
    KV_DDL,
    'CREATE TABLE pair (a INT NOT NULL, b VARCHAR(8) NOT NULL, v INT NOT NULL, PRIMARY KEY (a, b)) ENGINE=InnoDB',
  ]);
  const { connect, createPool } = await import('../../src/mysql/connect.ts');
  const snapConn = await connect({ url: fx.stack.mysqlUrl, database: fx.database });
  const pool = createPool({ url: fx.stack.mysqlUrl, database: fx.database }, 4);
  try {
    await seedKv(fx.conn, 500);
    await fx.conn.query(
      `INSERT INTO pair (a, b, v) VALUES ${Array.from({ length: 500 }, (_, i) => `(${i}, 'x${i % 3}', 0)`).join(',')}`,
    );
    const tables = await capturedTables(fx.conn, fx.database, ['kv', 'pair']);
    await installTriggers(fx.conn, tables);

    // Autocommit upserts and deletes over twice the seeded keys: half of them land as new rows
    // inside the range the snapshot is copying. Before the fix in decision 0004, 0.4–3 % of these
    // failed with errno 1467 (a deadlock on the changelog's AUTO-INC lock).
    let writing = true;
    let attempted = 0;
    const failures = new Map<string, number>();
    const writer = async (w: number) => {
      for (let n = 0; writing; n++) {
        const id = 1 + ((n * 7 + w * 131) % 1000);
        attempted++;
        try {
          await pool.query('INSERT INTO kv (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)', [
            id,
            n,
          ]);
          await pool.query(
            'INSERT INTO pair (a, b, v) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)',
            [id, `x${id % 3}`, n],
          );
          if (n % 13 === 0) await pool.query('DELETE FROM kv WHERE k = ?', [1 + ((id * 3) % 1000)]);
        } catch (err) {
          const key = `${(err as { errno?: number }).errno}: ${(err as Error).message.slice(0, 100)}`;
          failures.set(key, (failures.get(key) ?? 0) + 1);
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    let snapshots = 0;
    try {
      for (; snapshots < 300; snapshots++) {
        const table = tables[snapshots % 2]!;
        await resetSnapshot(snapConn, table.name);
        // No relay drains the changelog here, so the backlog pause is off.
        const progress = await snapshotTable(snapConn, table, { maxBacklog: 0 });
        assert.ok(progress.done && progress.rowsDone >= 400, JSON.stringify(progress));
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    console.log(
      `# ${snapshots} snapshots while 4 writers attempted ${attempted} writes: ${[...failures.values()].reduce((a, b) => a + b, 0)} failed`,
    );
    assert.ok(attempted > 1000, `only ${attempted} writes overlapped the snapshots`);
    assert.deepEqual([...failures], []);
  } finally {
    await pool.end();
    await snapConn.end();
    await fx.close();
  }
});
