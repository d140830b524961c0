// Trigger generation against hostile identifiers, idempotent install, drift detection and drop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RowDataPacket } from 'mysql2/promise';
import {
  capturedTables,
  dropTriggers,
  installTriggers,
  triggerStatus,
} from '../../src/capture/trigger/install.ts';
import { applyDdl } from '../../src/capture/trigger/apply-ddl.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { topicName } from '../../src/model/event.ts';
import { bySeq, drainWithRelay, freshDatabase, readEvents } from './capture-support.ts';

// Backticks, both quote kinds, spaces, unicode, reserved words and a backslash, in table and column names.
const TABLE = 'we`ird \'tbl\' "x" ✓ select';
const C_KEY = 'order';
const C_KEY2 = 'k`2 "q"';
const C_TEXT = "it's a \\ column";
const C_UNI = 'naïve ✓ ö'; // identifiers are utf8mb3: no emoji

test('triggers on a table with hostile identifiers capture inserts, key changes and deletes with the exact names', async () => {
  const fx = await freshDatabase('hostile', [
    `CREATE TABLE ${quoteId(TABLE)} (${quoteId(C_KEY)} INT NOT NULL, ${quoteId(C_KEY2)} VARCHAR(20) NOT NULL, ${quoteId(C_TEXT)} TEXT NULL, ${quoteId(C_UNI)} VARCHAR(20) NULL, PRIMARY KEY (${quoteId(C_KEY)}, ${quoteId(C_KEY2)})) CHARACTER SET utf8mb4`,
  ]);
  try {
    const tables = await capturedTables(fx.conn, fx.database, [TABLE]);
    assert.deepEqual(tables[0]!.primaryKey, [C_KEY, C_KEY2]);
    await installTriggers(fx.conn, tables);
    const t = quoteId(TABLE);
    await fx.conn.query(`INSERT INTO ${t} VALUES (1, 'a''b', 'x\\\\y', '✓')`);
    await fx.conn.query(`UPDATE ${t} SET ${quoteId(C_KEY2)} = 'ABC' WHERE ${quoteId(C_KEY)} = 1`);
    // Same key under the case-insensitive collation, different bytes: must still be a key change.
    await fx.conn.query(`UPDATE ${t} SET ${quoteId(C_KEY2)} = 'abc' WHERE ${quoteId(C_KEY)} = 1`);
    await fx.conn.query(`DELETE FROM ${t}`);
    await drainWithRelay(fx.config, fx.conn);

    const events = (await readEvents(fx.config, [TABLE])).sort(bySeq);
    assert.equal(events[0]!.topic, topicName(fx.config.kafka.topicPrefix, fx.database, TABLE));
    assert.match(events[0]!.topic, /^[A-Za-z0-9._-]+$/);
    assert.deepEqual(
      events.map((e) => [e.event.op, e.key]),
      [
        ['c', JSON.stringify({ [C_KEY]: 1, [C_KEY2]: "a'b" })],
        ['d', JSON.stringify({ [C_KEY]: 1, [C_KEY2]: "a'b" })],
        ['c', JSON.stringify({ [C_KEY]: 1, [C_KEY2]: 'ABC' })],
        ['d', JSON.stringify({ [C_KEY]: 1, [C_KEY2]: 'ABC' })],
        ['c', JSON.stringify({ [C_KEY]: 1, [C_KEY2]: 'abc' })],
        ['d', JSON.stringify({ [C_KEY]: 1, [C_KEY2]: 'abc' })],
      ],
    );
    assert.deepEqual(events[0]!.event.after, { [C_KEY]: 1, [C_KEY2]: "a'b", [C_TEXT]: 'x\\y', [C_UNI]: '✓' });
    assert.equal(events[0]!.event.source.table, TABLE);
  } finally {
    await fx.close();
  }
});

test('install is idempotent, status reports drift after ALTER TABLE, install regenerates, drop removes', async () => {
  const fx = await freshDatabase('drift', ['CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))']);
  try {
    const countTriggers = async (): Promise<number> => {
      const [rows] = await fx.conn.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?',
        [fx.database],
      );
      return Number(rows[0]!.n);
    };
    let tables = await capturedTables(fx.conn, fx.database, '*');
    assert.deepEqual(await installTriggers(fx.conn, tables), [{ table: 'items', action: 'created' }]);
    assert.deepEqual(await installTriggers(fx.conn, tables), [{ table: 'items', action: 'unchanged' }]);
    assert.equal(await countTriggers(), 3);
    assert.deepEqual(
      (await triggerStatus(fx.conn, tables)).map((s) => [s.installed, s.drift]),
      [[true, false]],
    );

    await fx.conn.query('ALTER TABLE items ADD COLUMN price DECIMAL(8,2) NULL');
    tables = await capturedTables(fx.conn, fx.database, '*');
    const [drifted] = await triggerStatus(fx.conn, tables);
    assert.equal(drifted!.drift, true, 'a new column was not reported as drift');

    assert.deepEqual(await installTriggers(fx.conn, tables), [{ table: 'items', action: 'regenerated' }]);
    assert.equal((await triggerStatus(fx.conn, tables))[0]!.drift, false);
    await fx.conn.query("INSERT INTO items VALUES (1, 'pen', 1.50)");
    const [rows] = await fx.conn.query<RowDataPacket[]>('SELECT after_image FROM _syncline_changelog');
    assert.deepEqual(JSON.parse(String(rows[0]!.after_image)), { id: 1, name: 'pen', price: '1.50' });

    assert.equal((await dropTriggers(fx.conn, fx.database, ['items'])).length, 3);
    assert.equal(await countTriggers(), 0);
    assert.deepEqual(
      (await triggerStatus(fx.conn, tables)).map((s) => [s.installed, s.drift]),
      [[false, false]],
    );
  } finally {
    await fx.close();
  }
});

test('a table without a primary key is refused with a message naming the table and the fix', async () => {
  const fx = await freshDatabase('nopk', [
    'CREATE TABLE audit_log (at DATETIME, msg TEXT)',
    'CREATE TABLE ok_table (id INT PRIMARY KEY)',
  ]);
  try {
    await assert.rejects(capturedTables(fx.conn, fx.database, '*'), (err: Error) => {
      assert.match(err.message, new RegExp(`table ${fx.database}\\.audit_log has no primary key`));
      assert.match(err.message, /ADD PRIMARY KEY/);
      assert.match(err.message, /source\.tables/);
      return true;
    });
    await assert.rejects(
      capturedTables(fx.conn, fx.database, ['missing_table']),
      /missing_table not found in database .*existing tables: audit_log, ok_table/,
    );
    assert.equal((await capturedTables(fx.conn, fx.database, ['ok_table'])).length, 1);
  } finally {
    await fx.close();
  }
});

test('zero dates, which MariaDB accepts by default, become null instead of invalid date strings', async () => {
  const fx = await freshDatabase('zerodate', [
    'CREATE TABLE d (id INT PRIMARY KEY, a DATE NULL, b DATETIME(3) NULL, c TIMESTAMP NULL DEFAULT NULL, e DATE NULL)',
  ]);
  try {
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    await fx.conn.query("SET SESSION sql_mode = ''");
    await fx.conn.query(
      "INSERT INTO d VALUES (1, '0000-00-00', '2024-00-10 10:00:00', '0000-00-00 00:00:00', '2024-02-29')",
    );
    const [rows] = await fx.conn.query<RowDataPacket[]>('SELECT after_image FROM _syncline_changelog');
    assert.deepEqual(JSON.parse(String(rows[0]!.after_image)), {
      id: 1,
      a: null,
      b: null,
      c: null,
      e: '2024-02-29',
    });
  } finally {
    await fx.close();
  }
});

test('FLOAT values read back as the stored float: short form when exact, the exact double otherwise', async () => {
  const fx = await freshDatabase('floats', ['CREATE TABLE f (id INT PRIMARY KEY, v FLOAT NULL)']);
  try {
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    await fx.conn.query(
      'INSERT INTO f VALUES (1, 0.1), (2, 16777217), (3, -19.99), (4, 0.333333333), (5, NULL), (6, 3.4e38)',
    );
    const [rows] = await fx.conn.query<RowDataPacket[]>(
      'SELECT after_image FROM _syncline_changelog ORDER BY id',
    );
    const values = rows.map((r) => (JSON.parse(String(r.after_image)) as { v: number | null }).v);
    assert.deepEqual(values, [0.1, 16777216, -19.99, 0.3333333432674408, null, 3.4e38]);
    // Every value is the stored float once narrowed to 32 bits.
    const stored = [0.1, 16777217, -19.99, 0.333333333, 3.4e38].map((x) => Math.fround(x));
    assert.deepEqual(
      values.filter((v) => v !== null).map((v) => Math.fround(v!)),
      stored,
    );
  } finally {
    await fx.close();
  }
});

test('an install working from a shape read before a syncline ddl gets triggers for the shape the table has now, so writes do not fail', async () => {
  const fx = await freshDatabase('stale_install', [
    'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price INT)',
  ]);
  try {
    const ddl = (sql: string) =>
      applyDdl(fx.conn, { database: fx.database, tables: '*' }, sql, { lockWaitSeconds: 5 });
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    await ddl('ALTER TABLE items DROP COLUMN price');
    // `run` polls: it reads this shape and sees drift, and a second `syncline ddl` lands before
    // it replaces the triggers.
    const stale = await capturedTables(fx.conn, fx.database, '*');
    assert.equal((await triggerStatus(fx.conn, stale))[0]!.drift, true);
    await ddl('ALTER TABLE items RENAME COLUMN name TO title');
    assert.deepEqual(await installTriggers(fx.conn, stale), [{ table: 'items', action: 'regenerated' }]);

    await fx.conn.query("INSERT INTO items (id, title) VALUES (1, 'pen')");
    const [rows] = await fx.conn.query<RowDataPacket[]>('SELECT after_image FROM _syncline_changelog');
    assert.deepEqual(JSON.parse(String(rows.at(-1)!.after_image)), { id: 1, title: 'pen' });
    const now = await capturedTables(fx.conn, fx.database, '*');
    assert.equal(
      (await triggerStatus(fx.conn, now))[0]!.drift,
      false,
      'the recorded shape is the current one',
    );
  } finally {
    await fx.close();
  }
});
