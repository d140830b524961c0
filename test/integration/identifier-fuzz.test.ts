// Seeded fuzz over hostile identifiers: database, table and column names (key columns and
// composite keys included) built from quotes, backticks, semicolons, comment openers, backslashes,
// unicode, reserved words, dots, colons and 64-character lengths. Each case creates the names in
// MariaDB, installs the triggers, writes inserts, an update, a key change, a delete and a
// rolled-back transaction, drains the relay, and compares Kafka with the exact expected events.
// A canary table proves that no name was ever executed as SQL.
//
// Replay a failure: SYNCLINE_FUZZ_SEED=<seed printed in the failure> (SYNCLINE_FUZZ_CASES=n).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import { CHANGELOG_TABLE, TRIGGER_STATE_TABLE } from '../../src/capture/trigger/ddl.ts';
import { TRUNCATE_STATE_TABLE } from '../../src/capture/trigger/truncate.ts';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId, quoteQualified } from '../../src/mysql/identifiers.ts';
import { Rng } from '../../src/mysql/demo/random.ts';
import { topicName } from '../../src/model/event.ts';
import { getStack } from '../support/stack.ts';
import { bySeq, changelogCount, drainWithRelay, readEvents, testConfig } from './capture-support.ts';

const SEED = Number(process.env.SYNCLINE_FUZZ_SEED ?? randomBytes(4).readUInt32LE());
const CASES = Number(process.env.SYNCLINE_FUZZ_CASES ?? 6);
const CANARY = 'canary';

// Each fragment is something a careless generator would splice into SQL or a key format.
const FRAGMENTS = [
  "'",
  '"',
  '`',
  '``',
  ';',
  '\\',
  '\\\\',
  ' ',
  '--',
  '-- ',
  '/*',
  '*/',
  '#',
  '.',
  ':',
  '::',
  '$',
  '%',
  '?',
  '@',
  '{',
  '}',
  'é',
  'naïve',
  'Ωmega',
  '中文',
  'テーブル',
  'select',
  'order',
  'key',
  'group',
  'table',
  'SELECT',
  `; DROP TABLE ${CANARY}; --`,
  `'; DROP TABLE ${CANARY}; --`,
  `\`; DROP TABLE ${CANARY}; --`,
  "' OR '1'='1",
  '\\0',
  'system.',
];

function hostileName(rng: Rng, maxChars: number): string {
  let name = '';
  const parts = rng.int(1, 5);
  for (let i = 0; i < parts; i++) name += rng.pick(FRAGMENTS);
  // Very long names: MySQL allows 64 characters (not bytes) per identifier.
  if (rng.chance(0.25)) while ([...name].length < maxChars) name += rng.pick(FRAGMENTS);
  name = [...name].slice(0, maxChars).join('');
  // MySQL rejects names ending in a space; the syncline prefix is reserved for its own tables.
  name = name.replace(/ +$/, '');
  if (name === '' || name.startsWith('_syncline')) name = `x${name}`.slice(0, maxChars);
  return name;
}

/** Unique within its table/database whatever the collation: a short tag at the end. */
function tagged(rng: Rng, tag: string, maxChars = 64): string {
  return hostileName(rng, maxChars - tag.length) + tag;
}

interface CaseTable {
  name: string;
  keys: string[];
  /** Non-key columns: a text column and a nullable integer. */
  text: string;
  num: string;
}

interface FuzzCase {
  database: string;
  tables: CaseTable[];
}

function generateCase(rng: Rng, index: number): FuzzCase {
  const runTag = randomBytes(3).toString('hex');
  const database = tagged(rng, `#${index}${runTag}`);
  const tables: CaseTable[] = [];
  for (let t = 0; t < 2; t++) {
    const keyCount = t === 0 ? 1 : 2;
    const cols = Array.from({ length: keyCount + 2 }, (_, i) => tagged(rng, `#c${i}`));
    tables.push({
      name: tagged(rng, `#t${t}`),
      keys: cols.slice(0, keyCount),
      text: cols[keyCount]!,
      num: cols[keyCount + 1]!,
    });
  }
  return { database, tables };
}

function createTableSql(t: CaseTable): string {
  const keyDefs = t.keys.map((k, i) => `${quoteId(k)} ${i === 0 ? 'INT' : 'VARCHAR(80)'} NOT NULL`);
  return `CREATE TABLE ${quoteId(t.name)} (${[
    ...keyDefs,
    `${quoteId(t.text)} VARCHAR(200) NULL`,
    `${quoteId(t.num)} INT NULL`,
    `PRIMARY KEY (${t.keys.map(quoteId).join(', ')})`,
  ].join(', ')}) CHARACTER SET utf8mb4`;
}

type Row = Record<string, unknown>;

function keyOf(t: CaseTable, row: Row): Row {
  return Object.fromEntries(t.keys.map((k) => [k, row[k]]));
}

interface Expected {
  op: 'c' | 'u' | 'd';
  key: Row;
  before: Row | null;
  after: Row | null;
}

/** Writes to one table through placeholders only; returns the events they must produce. */
async function workload(conn: Connection, t: CaseTable, rng: Rng): Promise<Expected[]> {
  const table = quoteId(t.name);
  // Key and text values are hostile too: ':' in a key value is what makes Redis keys ambiguous.
  const value = (): string => hostileName(rng, 30);
  const rows: Row[] = [1, 2, 3].map((n) => {
    const row: Row = { [t.keys[0]!]: n };
    if (t.keys[1]) row[t.keys[1]] = `${value()}:${n}`;
    row[t.text] = value();
    row[t.num] = n * 10;
    return row;
  });
  const cols = [...t.keys, t.text, t.num];
  const where = t.keys.map((k) => `${quoteId(k)} = ?`).join(' AND ');
  const expected: Expected[] = [];
  for (const row of rows) {
    await conn.query(
      `INSERT INTO ${table} (${cols.map(quoteId).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
      cols.map((c) => row[c]),
    );
    expected.push({ op: 'c', key: keyOf(t, row), before: null, after: { ...row } });
  }
  const [r1, r2, r3] = rows as [Row, Row, Row];
  const updated = { ...r1, [t.text]: value(), [t.num]: null };
  await conn.query(`UPDATE ${table} SET ${quoteId(t.text)} = ?, ${quoteId(t.num)} = NULL WHERE ${where}`, [
    updated[t.text],
    ...t.keys.map((k) => r1[k]),
  ]);
  expected.push({ op: 'u', key: keyOf(t, r1), before: r1, after: updated });

  const moved = { ...r2, [t.keys[0]!]: 20 };
  await conn.query(
    `UPDATE ${table} SET ${quoteId(t.keys[0]!)} = 20 WHERE ${where}`,
    t.keys.map((k) => r2[k]),
  );
  expected.push({ op: 'd', key: keyOf(t, r2), before: r2, after: null });
  expected.push({ op: 'c', key: keyOf(t, moved), before: null, after: moved });

  await conn.query(
    `DELETE FROM ${table} WHERE ${where}`,
    t.keys.map((k) => r3[k]),
  );
  expected.push({ op: 'd', key: keyOf(t, r3), before: r3, after: null });

  // Nothing of a rolled-back transaction may reach Kafka.
  await conn.query('START TRANSACTION');
  await conn.query(
    `INSERT INTO ${table} (${cols.map(quoteId).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
    cols.map((c) => (c === t.keys[0] ? 99 : c === t.num ? 99 : `${value()}-rolled-back`)),
  );
  await conn.query(
    `DELETE FROM ${table} WHERE ${where}`,
    t.keys.map((k) => updated[k]),
  );
  await conn.query('ROLLBACK');
  return expected;
}

async function tablesOf(conn: Connection, database: string): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
    [database],
  );
  return rows.map((r) => String(r.n)).sort();
}

async function runCase(c: FuzzCase, rng: Rng): Promise<void> {
  const stack = await getStack();
  const conn = await connect({ url: stack.mysqlUrl });
  try {
    await conn.query(`CREATE DATABASE ${quoteId(c.database)} CHARACTER SET utf8mb4`);
    await conn.query(`USE ${quoteId(c.database)}`);
    await conn.query(`CREATE TABLE ${quoteId(CANARY)} (id INT PRIMARY KEY)`);
    await conn.query(`INSERT INTO ${quoteId(CANARY)} VALUES (42)`);
    for (const t of c.tables) await conn.query(createTableSql(t));

    const config = testConfig(stack, c.database, { tables: c.tables.map((t) => t.name) });
    const schemas = await capturedTables(conn, c.database, config.source.tables);
    assert.deepEqual(
      schemas.map((s) => [s.name, s.primaryKey]),
      c.tables.map((t) => [t.name, t.keys]),
      'the catalog reads the names back exactly',
    );
    const installed = await installTriggers(conn, schemas);
    assert.deepEqual(
      installed.map((r) => r.action),
      c.tables.map(() => 'created'),
    );

    const expected = new Map<string, Expected[]>();
    for (const t of c.tables) expected.set(t.name, await workload(conn, t, rng));
    await drainWithRelay(config, conn);
    assert.equal(await changelogCount(conn, c.database), 0);

    for (const t of c.tables) {
      const events = (await readEvents(config, [t.name])).sort(bySeq);
      const topic = topicName(config.kafka.topicPrefix, c.database, t.name);
      assert.match(topic, /^[A-Za-z0-9._-]{1,249}$/, 'a legal Kafka topic name');
      const want = expected.get(t.name)!;
      assert.deepEqual(
        events.map((e) => ({
          topic: e.topic,
          op: e.event.op,
          key: JSON.parse(e.key) as Row,
          keyOrder: Object.keys(JSON.parse(e.key) as Row),
          before: e.event.before,
          after: e.event.after,
          db: e.event.source.db,
          table: e.event.source.table,
        })),
        want.map((w) => ({
          topic,
          op: w.op,
          key: w.key,
          keyOrder: t.keys,
          before: w.before,
          after: w.after,
          db: c.database,
          table: t.name,
        })),
        `events of table ${JSON.stringify(t.name)}`,
      );
    }

    // No name ran as SQL: the canary and its row survive, and no table appeared or vanished.
    const [canary] = await conn.query<RowDataPacket[]>(
      `SELECT id FROM ${quoteQualified(c.database, CANARY)}`,
    );
    assert.deepEqual(
      canary.map((r) => r.id),
      [42],
    );
    assert.deepEqual(
      await tablesOf(conn, c.database),
      // The relay's own bookkeeping (TRUNCATE detection) and nothing else beside the tables.
      [
        CANARY,
        CHANGELOG_TABLE,
        TRIGGER_STATE_TABLE,
        TRUNCATE_STATE_TABLE,
        ...c.tables.map((t) => t.name),
      ].sort(),
    );
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(c.database)}`).catch(() => undefined);
    await conn.end();
  }
}

test(`hostile database, table and column names are captured exactly and never run as SQL (seed ${SEED})`, async (t) => {
  t.diagnostic(`seed ${SEED}, ${CASES} cases; replay with SYNCLINE_FUZZ_SEED=${SEED}`);
  const rng = new Rng(SEED);
  for (let i = 0; i < CASES; i++) {
    const c = generateCase(rng, i);
    t.diagnostic(
      `case ${i}: database ${JSON.stringify(c.database)}, tables ${JSON.stringify(c.tables.map((x) => x.name))}`,
    );
    try {
      await runCase(c, rng);
    } catch (err) {
      const e = err as Error;
      e.message = `fuzz seed ${SEED} (SYNCLINE_FUZZ_SEED=${SEED}), case ${i}, database ${JSON.stringify(c.database)}, tables ${JSON.stringify(c.tables)}:\n${e.message}`;
      throw e;
    }
  }
});
