// What only binlog capture has to get right: the snapshot reaching Kafka through the binlog (its
// chunks ordered against concurrent writes by their binlog position), TRUNCATE as a statement,
// columns added, renamed and dropped while writes continue, a stored position whose file the
// server no longer has, and a new binary log file with no write after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import {
  BinlogFatalError,
  currentBinlogHead,
  ensureBinlogStartPosition,
  readBinlogPosition,
  writeBinlogPosition,
} from '../../src/capture/binlog/index.ts';
import { compareCoordinates } from '../../src/mysql/binlog.ts';
import { snapshotTable } from '../../src/capture/snapshot/snapshot.ts';
import { changelogDdl } from '../../src/capture/trigger/ddl.ts';
import { capturedTables } from '../../src/capture/trigger/install.ts';
import { connect, createPool } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import {
  KV_DDL,
  bySeq,
  changelogCount,
  freshDatabase,
  newCapture,
  readEvents,
  synclineTriggers,
  testConfig,
  waitForCapture,
  type PublishedEvent,
} from './capture-support.ts';

/** Applies events in seq order, as a version-guarded sink ends up: key → latest image. */
function replay(events: PublishedEvent[]): Map<string, Record<string, unknown>> {
  const state = new Map<string, Record<string, unknown>>();
  const seen = new Set<string>();
  for (const p of [...events].sort(bySeq)) {
    const id = `${p.event.source.seq}\u0000${p.key}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const op = p.event.op as string;
    if (op === 't') state.clear();
    else if (op === 'd') state.delete(p.key);
    else state.set(p.key, p.event.after!);
  }
  return state;
}

test('binlog mode: a snapshot of rows written before the start, taken while updates continue, replays to exactly the final table', async () => {
  const fx = await freshDatabase('bsnap', [KV_DDL]);
  const pool = createPool({ url: fx.stack.mysqlUrl, database: fx.database }, 4);
  try {
    // Rows that exist before the reader's start position: only the snapshot can bring them.
    const values = Array.from({ length: 3000 }, (_, i) => `(${i + 1}, ${i * 10}, 'before')`);
    await fx.conn.query(`INSERT INTO kv (k, v, note) VALUES ${values.join(',')}`);
    // As `syncline run` in binlog mode: the changelog table without triggers, then the start position.
    await fx.conn.query(changelogDdl());
    const config = testConfig(fx.stack, fx.database, { capture: 'binlog', batchSize: 500 });
    await ensureBinlogStartPosition(config);
    const reader = newCapture(config);
    const running = reader.run();

    let writing = true;
    let writes = 0;
    const writer = (async () => {
      const conn = await pool.getConnection();
      try {
        for (let n = 0; writing; n++) {
          const k = 1 + ((n * 7919) % 3400);
          const roll = n % 10;
          if (roll < 6) await conn.query('UPDATE kv SET v = v + 1, note = ? WHERE k = ?', [`u${n}`, k]);
          else if (roll < 8)
            await conn.query(
              'INSERT INTO kv (k, v, note) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)',
              [k, n, `i${n}`],
            );
          else await conn.query('DELETE FROM kv WHERE k = ?', [k]);
          writes++;
        }
      } finally {
        conn.release();
      }
    })();
    const snapConn = await connect({ url: fx.stack.mysqlUrl, database: fx.database });
    // The writer is under way before the first chunk, and the chunks are small enough that the
    // snapshot spans many writes even when the machine is fast.
    while (writes < 10) await new Promise((r) => setTimeout(r, 5));
    const writesBefore = writes;
    let progress;
    try {
      const [table] = await capturedTables(snapConn, fx.database, ['kv']);
      progress = await snapshotTable(snapConn, table!, { chunkSize: 50 });
    } finally {
      await snapConn.end();
    }
    const writesDuring = writes - writesBefore;
    writing = false;
    await writer;
    await waitForCapture(reader, config, fx.conn, 60_000);
    reader.stop();
    await running;

    assert.deepEqual(await synclineTriggers(fx.conn, fx.database), []);
    assert.equal(await changelogCount(fx.conn, fx.database), 0, 'the reader deleted the chunks it published');
    const events = await readEvents(config, ['kv']);
    const reads = events.filter((e) => e.event.op === 'r');
    assert.equal(reads.length, progress.rowsDone, 'one r event per snapshot row');
    assert.ok(reads.every((e) => e.event.source.capture === 'snapshot' && e.event.before === null));
    assert.ok(writesDuring > 30, `only ${writesDuring} writes happened during the snapshot`);

    const state = replay(events);
    const [rows] = await fx.conn.query<RowDataPacket[]>('SELECT k, v, note FROM kv ORDER BY k');
    const expected = new Map(
      rows.map((r) => [`{"k":${r.k}}`, { k: Number(r.k), v: String(r.v), note: r.note as string | null }]),
    );
    assert.equal(state.size, expected.size, 'replayed row count');
    for (const [key, row] of expected) assert.deepEqual(state.get(key), row, `row ${key}`);
    console.log(
      `binlog snapshot: ${progress.rowsDone} rows in ${progress.chunksDone} chunks, ${writesDuring} concurrent writes, ${events.length} events`,
    );
  } finally {
    await pool.end();
    await fx.close();
  }
});

test('binlog mode: TRUNCATE and columns added, renamed and dropped while writes continue give t events on every partition and images with the columns of their time', async () => {
  const fx = await freshDatabase('bddl', [KV_DDL], 'binlog');
  const pool = createPool({ url: fx.stack.mysqlUrl, database: fx.database }, 4);
  try {
    const reader = newCapture(fx.config);
    const running = reader.run();
    await fx.conn.query(
      `INSERT INTO kv (k, v, note) VALUES ${Array.from({ length: 200 }, (_, i) => `(${i + 1}, 0, 'n')`).join(',')}`,
    );
    let writing = true;
    const writer = (async () => {
      const conn = await pool.getConnection();
      try {
        for (let n = 0; writing; n++) {
          await conn.query('UPDATE kv SET v = v + 1 WHERE k = ?', [1 + (n % 300)]);
          await conn.query('INSERT IGNORE INTO kv (k, v) VALUES (?, ?)', [1 + ((n * 13) % 300), n]);
        }
      } finally {
        conn.release();
      }
    })();
    const pause = () => new Promise((r) => setTimeout(r, 150));
    await pause();
    await fx.conn.query("ALTER TABLE kv ADD COLUMN extra VARCHAR(10) NULL DEFAULT 'x'");
    await pause();
    await fx.conn.query('ALTER TABLE kv RENAME COLUMN extra TO extra2');
    await pause();
    await fx.conn.query('ALTER TABLE kv DROP COLUMN note');
    await pause();
    await fx.conn.query('TRUNCATE TABLE kv');
    await pause();
    // Qualified and quoted, issued from another default database.
    await fx.conn.query('USE mysql');
    await fx.conn.query(`TRUNCATE ${quoteId(fx.database)}.\`kv\``);
    await fx.conn.query(`USE ${quoteId(fx.database)}`);
    await fx.conn.query(
      `INSERT IGNORE INTO kv (k, v) VALUES ${Array.from({ length: 50 }, (_, i) => `(${1000 + i}, ${i})`).join(',')}`,
    );
    await pause();
    writing = false;
    await writer;
    // Every row gets an image with the final columns.
    await fx.conn.query("UPDATE kv SET v = v + 1, extra2 = 'final'");
    await waitForCapture(reader, fx.config, fx.conn, 60_000);
    reader.stop();
    await running;

    const events = (await readEvents(fx.config, ['kv'])).sort(bySeq);
    const truncates = events.filter((e) => (e.event.op as string) === 't');
    assert.equal(truncates.length, 2 * fx.config.kafka.partitions, 'each TRUNCATE once on every partition');
    assert.ok(
      truncates.every(
        (e) =>
          (e.key === null || e.key === undefined || e.key === '') &&
          e.event.before === null &&
          e.event.after === null,
      ),
      'a t event has no key and no images',
    );
    assert.deepEqual(
      new Set(truncates.map((e) => e.partition)),
      new Set(Array.from({ length: fx.config.kafka.partitions }, (_, i) => i)),
    );
    // The column sets, in commit order, must only move forward through the schema's versions.
    const shapes = ['k,v,note', 'k,v,note,extra', 'k,v,note,extra2', 'k,v,extra2'];
    let phase = 0;
    const seenPhases = new Set<number>();
    for (const e of events) {
      const image = e.event.after ?? e.event.before;
      if (!image) continue;
      const shape = Object.keys(image).join(',');
      const at = shapes.indexOf(shape);
      assert.ok(at >= 0, `an image with unexpected columns ${shape} (seq ${e.event.source.seq})`);
      assert.ok(
        at >= phase,
        `an image with the columns of an older schema (${shape}) after ${shapes[phase]}`,
      );
      phase = at;
      seenPhases.add(at);
    }
    assert.equal(seenPhases.size, shapes.length, 'writes happened in every schema version');
    const state = replay(events);
    const [rows] = await fx.conn.query<RowDataPacket[]>('SELECT k, v, extra2 FROM kv ORDER BY k');
    assert.ok(rows.length > 0);
    assert.equal(state.size, rows.length);
    for (const r of rows)
      assert.deepEqual(state.get(`{"k":${r.k}}`), { k: Number(r.k), v: String(r.v), extra2: r.extra2 });
  } finally {
    await pool.end();
    await fx.close();
  }
});

test('binlog mode: a stored position in a binary log file the server no longer has stops the reader with how to recover', async () => {
  const fx = await freshDatabase('bpurge', [KV_DDL], 'binlog');
  try {
    const [logs] = await fx.conn.query<RowDataPacket[]>('SHOW BINARY LOGS');
    const oldest = String(logs[0]!.Log_name);
    const m = /^(.*)\.(\d+)$/.exec(oldest)!;
    const gone = `${m[1]}.${String(Number(m[2]) - 1).padStart(m[2]!.length, '0')}`;
    writeBinlogPosition(fx.config, { file: gone, position: 4 });
    const reader = newCapture(fx.config);
    const started = Date.now();
    await assert.rejects(reader.run(), (err: Error) => {
      assert.ok(err instanceof BinlogFatalError, `not a fatal error: ${err.message}`);
      assert.match(err.message, new RegExp(gone.replace(/\./g, '\\.')));
      assert.match(err.message, /syncline snapshot --restart/);
      assert.match(err.message, /binlog-position-/);
      return true;
    });
    assert.ok(Date.now() - started < 15_000, 'the reader retried instead of stopping');
  } finally {
    await fx.close();
  }
});

test('binlog mode: when the server starts a new binary log file and nothing is written after it (FLUSH BINARY LOGS, a restart), the stored position still reaches the head', async () => {
  // A reader that moved only at commits stayed in the old file: status showed it behind for as
  // long as the source was idle, and the chaos round that restarts MariaDB at the end of its
  // writes never saw the capture catch up. On a server that other tests write to at the same
  // time their commits move the position too; on an idle one only the new file's own events do.
  const fx = await freshDatabase('brotate', [KV_DDL], 'binlog');
  const reader = newCapture(fx.config);
  const running = reader.run();
  try {
    await fx.conn.query("INSERT INTO kv (k, v, note) VALUES (1, 1, 'before the flush')");
    await waitForCapture(reader, fx.config, fx.conn, 30_000);
    const before = await currentBinlogHead(fx.config);
    await fx.conn.query('FLUSH BINARY LOGS');
    const head = await currentBinlogHead(fx.config);
    assert.ok(compareCoordinates(head, before) > 0 && head.file !== before.file, 'the server switched files');
    const deadline = Date.now() + 15_000;
    let stored = await readBinlogPosition(fx.config);
    while ((!stored || compareCoordinates(stored, head) < 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      stored = await readBinlogPosition(fx.config);
    }
    assert.ok(
      stored && compareCoordinates(stored, head) >= 0,
      `stored position ${stored?.file}:${stored?.position} did not reach the head ${head.file}:${head.position}`,
    );
    // Resuming from there loses nothing: a row written next is published.
    await fx.conn.query("INSERT INTO kv (k, v, note) VALUES (2, 2, 'after the flush')");
    await waitForCapture(reader, fx.config, fx.conn, 30_000);
    const notes = (await readEvents(fx.config, ['kv'])).map((e) => e.event.after?.note);
    assert.deepEqual(notes.sort(), ['after the flush', 'before the flush']);
  } finally {
    reader.stop();
    await running;
    await fx.close();
  }
});
