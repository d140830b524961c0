// Trigger capture emits exactly the row changes that happened (issue 11): one scenario per
// statement form that used to invent a change (ignored UPDATE IGNORE, no-op updates) or miss one
// (foreign-key cascades). Each replays the changelog into the in-memory model, which checks every
// before image against the last captured state, and compares the model with the tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import type { TableSchema } from '../../src/model/types.ts';
import { doctor } from '../../src/observe/doctor.ts';
import { applyDdl } from '../../src/capture/trigger/apply-ddl.ts';
import { freshDatabase, type CaptureFixture } from './capture-support.ts';
import { CaptureModel, changelogEvents, tableImages, type ModelEvent } from '../support/capture-workload.ts';

interface Scenario {
  fx: CaptureFixture;
  model: CaptureModel;
  schemas: Map<string, TableSchema>;
  lastSeq: bigint;
  /** Run statements (errors are returned, not thrown) and return the events they produced. */
  run(...sql: string[]): Promise<ModelEvent[]>;
  close(): Promise<void>;
}

async function scenario(prefix: string, ddl: string[]): Promise<Scenario> {
  const fx = await freshDatabase(prefix, ddl);
  const tables = await capturedTables(fx.conn, fx.database, '*');
  await installTriggers(fx.conn, tables);
  const schemas = new Map(tables.map((t) => [t.name, t]));
  const model = new CaptureModel(schemas);
  const s: Scenario = {
    fx,
    model,
    schemas,
    lastSeq: 0n,
    async run(...sql) {
      for (const statement of sql) {
        try {
          await fx.conn.query(statement);
        } catch {
          // The scenario asserts on the outcome (events and table contents), not on the error.
        }
      }
      const events = await changelogEvents(fx.conn, fx.database, s.lastSeq);
      for (const e of events) model.apply(e);
      if (events.length) s.lastSeq = events.at(-1)!.seq;
      const difference = model.diff(await tableImages(fx.conn, schemas, model));
      assert.equal(difference, null, `after ${sql.join('; ')}: ${difference}`);
      return events;
    },
    close: () => fx.close(),
  };
  return s;
}

const ops = (events: ModelEvent[]) => events.map((e) => `${e.table}:${e.op}`);

test('an UPDATE IGNORE primary-key move skipped for a duplicate key emits nothing', async () => {
  const s = await scenario('cx_ignpk', ['CREATE TABLE t (id INT PRIMARY KEY, u INT UNIQUE, v VARCHAR(20))']);
  try {
    await s.run("INSERT INTO t VALUES (1, 10, 'a'), (2, 20, 'b')");
    assert.deepEqual(await s.run('UPDATE IGNORE t SET id = 2 WHERE id = 1'), []);
    // A move that does happen is still a delete of the old key and a create of the new one.
    assert.deepEqual(ops(await s.run('UPDATE IGNORE t SET id = 3 WHERE id = 1')), ['t:d', 't:c']);
  } finally {
    await s.close();
  }
});

test('an UPDATE IGNORE skipped for a UNIQUE secondary key conflict emits nothing', async () => {
  const s = await scenario('cx_ignuq', ['CREATE TABLE t (id INT PRIMARY KEY, u INT UNIQUE, v VARCHAR(20))']);
  try {
    await s.run("INSERT INTO t VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c')");
    assert.deepEqual(await s.run('UPDATE IGNORE t SET u = 20 WHERE id = 1'), []);
    // Multi-row: row 1 conflicts (skipped), row 3 moves to a free value.
    assert.deepEqual(ops(await s.run('UPDATE IGNORE t SET u = u + 10 WHERE id IN (1, 3) ORDER BY id')), [
      't:u',
    ]);
  } finally {
    await s.close();
  }
});

test('a no-op UPDATE or ON DUPLICATE KEY UPDATE emits nothing, a case-only change under a _ci collation emits u', async () => {
  const s = await scenario('cx_noop', [
    'CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20) COLLATE utf8mb4_general_ci, n INT)',
  ]);
  try {
    await s.run("INSERT INTO t VALUES (1, 'ann', 1), (2, 'bob', 2)");
    assert.deepEqual(await s.run('UPDATE t SET n = n, name = name'), []);
    assert.deepEqual(await s.run("INSERT INTO t VALUES (1, 'ann', 1) ON DUPLICATE KEY UPDATE n = n"), []);
    assert.deepEqual(
      await s.run("INSERT INTO t VALUES (1, 'x', 5) ON DUPLICATE KEY UPDATE n = VALUES(n)").then(ops),
      ['t:u'],
    );
    assert.deepEqual(ops(await s.run("UPDATE t SET name = 'ANN' WHERE id = 1")), ['t:u']);
  } finally {
    await s.close();
  }
});

test('an update is confirmed for every column type: values with rounding, time zones and NULLs compare equal to themselves', async () => {
  const s = await scenario('cx_types', [
    `CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL,
       f FLOAT, d DOUBLE, dec1 DECIMAL(20,6), b1 BIT(1), b9 BIT(9), y YEAR,
       dt DATE, dtm3 DATETIME(3), ts0 TIMESTAMP NULL DEFAULT NULL, ts6 TIMESTAMP(6) NULL DEFAULT NULL, tm6 TIME(6),
       s VARCHAR(20) COLLATE utf8mb4_general_ci, ch CHAR(5), bin VARBINARY(8), bl BLOB, e ENUM('x','y'), st SET('a','b'),
       j JSON, g GEOMETRY NULL, u BIGINT UNSIGNED)`,
  ]);
  try {
    await s.run(
      "SET time_zone = '+05:30'",
      `INSERT INTO t VALUES (1, 0, 0.1, 1e-300, -12345.000001, b'1', b'100000001', 2001, '2024-02-29',
         '2024-02-29 23:59:59.123', '2038-01-19 03:14:07', '2024-03-31 02:30:00.654321', '-12:00:00.5',
         'MiXeD', 'ab ', X'00FF', X'DEADBEEF', 'y', 'a,b', '{"k": [1, 2.50, null]}', ST_GeomFromText('LINESTRING(0 0, 1 1)'),
         18446744073709551615)`,
      'INSERT INTO t (id, n) VALUES (2, 0)',
    );
    assert.deepEqual(ops(await s.run('UPDATE t SET n = n + 1')), ['t:u', 't:u']);
    await s.fx.conn.query("SET time_zone = 'SYSTEM'");
    assert.deepEqual(ops(await s.run('UPDATE t SET n = n + 1')), ['t:u', 't:u']);
  } finally {
    await s.close();
  }
});

const CHAIN = [
  'CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))',
  `CREATE TABLE b (a_id INT NOT NULL, n INT NOT NULL, v VARCHAR(10), PRIMARY KEY (a_id, n),
     CONSTRAINT b_a FOREIGN KEY (a_id) REFERENCES a (id) ON DELETE CASCADE ON UPDATE CASCADE)`,
  `CREATE TABLE c (id INT PRIMARY KEY, a_id INT NOT NULL, n INT NOT NULL, v VARCHAR(10),
     CONSTRAINT c_b FOREIGN KEY (a_id, n) REFERENCES b (a_id, n) ON DELETE CASCADE ON UPDATE CASCADE)`,
];
const CHAIN_ROWS = [
  "INSERT INTO a VALUES (1, 'a1'), (2, 'a2')",
  "INSERT INTO b VALUES (1, 1, 'b11'), (1, 2, 'b12'), (2, 1, 'b21')",
  "INSERT INTO c VALUES (1, 1, 1, 'c1'), (2, 1, 2, 'c2'), (3, 2, 1, 'c3'), (4, 1, 1, 'c4')",
];

test('ON DELETE CASCADE over three levels: every deleted child and grandchild gets a d', async () => {
  const s = await scenario('cx_delcasc', CHAIN);
  try {
    await s.run(...CHAIN_ROWS);
    const events = await s.run('DELETE FROM a WHERE id = 1');
    assert.deepEqual(ops(events).sort(), ['a:d', 'b:d', 'b:d', 'c:d', 'c:d', 'c:d'].sort());
  } finally {
    await s.close();
  }
});

test('a self-referencing ON DELETE CASCADE tree 14 levels deep: every descendant gets a d', async () => {
  const s = await scenario('cx_tree', [
    `CREATE TABLE tree (id INT PRIMARY KEY, parent INT NULL,
       CONSTRAINT tree_parent FOREIGN KEY (parent) REFERENCES tree (id) ON DELETE CASCADE)`,
  ]);
  try {
    // 1 <- 2 <- ... <- 15 (InnoDB's deepest), and a second branch 100 <- 101 under 3.
    const chain = Array.from({ length: 14 }, (_, i) => `(${i + 2}, ${i + 1})`).join(', ');
    await s.run(
      'INSERT INTO tree VALUES (1, NULL)',
      `INSERT INTO tree VALUES ${chain}`,
      'INSERT INTO tree VALUES (100, 3), (101, 100)',
    );
    const events = await s.run('DELETE FROM tree WHERE id = 1');
    assert.equal(events.filter((e) => e.op === 'd').length, 17);
  } finally {
    await s.close();
  }
});

test('ON UPDATE CASCADE into a child key is d + c of the child, into a non-key column a u', async () => {
  const s = await scenario('cx_updcasc', CHAIN);
  try {
    await s.run(...CHAIN_ROWS);
    const events = await s.run('UPDATE a SET id = 7 WHERE id = 1');
    // a: d + c; b (key contains a_id): 2 x (d + c); c (a_id not in its key): 3 x u.
    assert.deepEqual(
      ops(events).sort(),
      ['a:d', 'a:c', 'b:d', 'b:c', 'b:d', 'b:c', 'c:u', 'c:u', 'c:u'].sort(),
    );
    // An update that leaves the referenced column alone cascades nothing.
    assert.deepEqual(ops(await s.run("UPDATE a SET v = 'x' WHERE id = 7")), ['a:u']);
  } finally {
    await s.close();
  }
});

test('ON DELETE SET NULL and ON UPDATE SET NULL: the child gets a u with the columns nulled', async () => {
  const s = await scenario('cx_setnull', [
    'CREATE TABLE p (id INT PRIMARY KEY, code VARCHAR(5) UNIQUE)',
    `CREATE TABLE ch (id INT PRIMARY KEY, p_id INT NULL,
       CONSTRAINT ch_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE SET NULL)`,
    `CREATE TABLE ch2 (id INT PRIMARY KEY, p_code VARCHAR(5) NULL,
       CONSTRAINT ch2_code FOREIGN KEY (p_code) REFERENCES p (code) ON DELETE CASCADE ON UPDATE SET NULL)`,
  ]);
  try {
    await s.run(
      "INSERT INTO p VALUES (1, 'x'), (2, 'y')",
      'INSERT INTO ch VALUES (1, 1), (2, 1), (3, 2)',
      "INSERT INTO ch2 VALUES (1, 'x'), (2, 'y'), (3, 'y')",
    );
    const update = await s.run("UPDATE p SET code = 'z' WHERE id = 2");
    assert.deepEqual(ops(update), ['ch2:u', 'ch2:u', 'p:u']);
    assert.deepEqual(update[0]!.after, { id: 2, p_code: null });
    const del = await s.run('DELETE FROM p WHERE id = 1');
    assert.deepEqual(ops(del).sort(), ['ch2:d', 'ch:u', 'ch:u', 'p:d'].sort());
  } finally {
    await s.close();
  }
});

test('DELETE IGNORE of a parent whose delete fails on a RESTRICT grandchild emits nothing for its children', async () => {
  const s = await scenario('cx_delign', [
    'CREATE TABLE p (id INT PRIMARY KEY)',
    `CREATE TABLE ch (id INT PRIMARY KEY, p_id INT NOT NULL,
       CONSTRAINT ch_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE)`,
    `CREATE TABLE g (id INT PRIMARY KEY, ch_id INT NOT NULL,
       CONSTRAINT g_ch FOREIGN KEY (ch_id) REFERENCES ch (id) ON DELETE RESTRICT)`,
  ]);
  try {
    await s.run(
      'INSERT INTO p VALUES (1), (2)',
      'INSERT INTO ch VALUES (10, 1), (11, 1), (20, 2)',
      'INSERT INTO g VALUES (1, 11)',
    );
    const events = await s.run('DELETE IGNORE FROM p WHERE id IN (1, 2) ORDER BY id');
    // Row 1 stays (its child 11 is held by g), row 2 and its child go.
    assert.deepEqual(
      events.map((e) => `${e.table}:${e.op}:${JSON.stringify(e.before)}`),
      ['ch:d:{"id":20,"p_id":2}', 'p:d:{"id":2}'],
    );
  } finally {
    await s.close();
  }
});

test('multi-table UPDATE and DELETE capture every row they change, cascades included', async () => {
  const s = await scenario('cx_multi', [...CHAIN, 'CREATE TABLE k (id INT PRIMARY KEY, n INT)']);
  try {
    await s.run(...CHAIN_ROWS, 'INSERT INTO k VALUES (1, 0), (2, 0), (3, 0)');
    assert.deepEqual(
      ops(await s.run("UPDATE a JOIN k ON k.id = a.id SET a.v = 'm', k.n = k.n + 1 WHERE a.id <= 2")).sort(),
      ['a:u', 'a:u', 'k:u', 'k:u'],
    );
    assert.deepEqual(ops(await s.run('DELETE a, k FROM a JOIN k ON k.id = a.id WHERE a.id = 2')).sort(), [
      'a:d',
      'b:d',
      'c:d',
      'k:d',
    ]);
  } finally {
    await s.close();
  }
});

test('a DELETE that reads the child table in its WHERE or joins it still succeeds and captures the cascade', async () => {
  const s = await scenario('cx_readchild', [
    'CREATE TABLE p (id INT PRIMARY KEY)',
    `CREATE TABLE c (id INT PRIMARY KEY, p_id INT NOT NULL,
       CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE)`,
  ]);
  try {
    await s.run('INSERT INTO p VALUES (1), (2), (3)', 'INSERT INTO c VALUES (1, 1), (2, 2), (3, 3)');
    assert.deepEqual(ops(await s.run('DELETE FROM p WHERE id IN (SELECT p_id FROM c WHERE id = 1)')), [
      'c:d',
      'p:d',
    ]);
    assert.deepEqual(ops(await s.run('DELETE p FROM p JOIN c ON c.p_id = p.id WHERE c.id = 2')), [
      'c:d',
      'p:d',
    ]);
    assert.deepEqual(ops(await s.run('DELETE p, c FROM p LEFT JOIN c ON c.p_id = p.id WHERE p.id = 3')), [
      'c:d',
      'p:d',
    ]);
  } finally {
    await s.close();
  }
});

test('REPLACE over several rows conflicting on PRIMARY and UNIQUE keys deletes each and creates one', async () => {
  const s = await scenario('cx_replace', [
    'CREATE TABLE t (a INT, b INT, u INT UNIQUE, v INT, PRIMARY KEY (a, b))',
    `CREATE TABLE ch (id INT PRIMARY KEY, a INT, b INT,
       CONSTRAINT ch_t FOREIGN KEY (a, b) REFERENCES t (a, b) ON DELETE CASCADE)`,
  ]);
  try {
    await s.run(
      'INSERT INTO t VALUES (1, 1, 10, 0), (1, 2, 20, 0), (2, 1, 30, 0)',
      'INSERT INTO ch VALUES (1, 1, 2)',
    );
    // (1,1) conflicts on the key, (1,2) on u = 20: both are deleted (and ch 1 by cascade).
    const events = await s.run('REPLACE INTO t VALUES (1, 1, 20, 9), (3, 3, 30, 9)');
    assert.deepEqual(
      ops(events).filter((o) => o === 'ch:d'),
      ['ch:d'],
    );
  } finally {
    await s.close();
  }
});

test('INSERT ... SELECT and INSERT IGNORE ... SELECT emit a c per inserted row only', async () => {
  const s = await scenario('cx_inssel', [
    'CREATE TABLE src (id INT PRIMARY KEY, v INT)',
    'CREATE TABLE dst (id INT PRIMARY KEY, v INT)',
  ]);
  try {
    await s.run('INSERT INTO src VALUES (1, 1), (2, 2), (3, 3)', 'INSERT INTO dst VALUES (2, 0)');
    assert.deepEqual(ops(await s.run('INSERT IGNORE INTO dst SELECT * FROM src')), ['dst:c', 'dst:c']);
    assert.deepEqual(
      ops(await s.run('INSERT INTO dst SELECT * FROM src ON DUPLICATE KEY UPDATE v = dst.v')),
      [],
    );
  } finally {
    await s.close();
  }
});

test('a savepoint rolled back inside a committed transaction leaves no event for its changes', async () => {
  const s = await scenario('cx_savept', CHAIN);
  try {
    await s.run(...CHAIN_ROWS);
    const events = await s.run(
      'START TRANSACTION',
      "UPDATE a SET v = 'kept' WHERE id = 2",
      'SAVEPOINT sp',
      'DELETE FROM a WHERE id = 1',
      'ROLLBACK TO SAVEPOINT sp',
      'COMMIT',
    );
    assert.deepEqual(ops(events), ['a:u']);
  } finally {
    await s.close();
  }
});

test('syncline ddl dropping a column of a cascading child replaces the parent triggers too: deletes of the parent keep working and captured', async () => {
  const s = await scenario('cx_ddlchild', [
    'CREATE TABLE p (id INT PRIMARY KEY)',
    `CREATE TABLE c (id INT PRIMARY KEY, p_id INT NOT NULL, x INT,
       CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE)`,
  ]);
  try {
    await s.run('INSERT INTO p VALUES (1), (2)', 'INSERT INTO c VALUES (1, 1, 0), (2, 2, 0)');
    await applyDdl(s.fx.conn, { database: s.fx.database, tables: '*' }, 'ALTER TABLE c DROP COLUMN x', {
      lockWaitSeconds: 5,
    });
    const schemas = await capturedTables(s.fx.conn, s.fx.database, '*');
    for (const t of schemas) s.schemas.set(t.name, t);
    // The model's copy of c still has x: forget c's rows and compare only what the delete emits.
    const events = await s.fx.conn
      .query('DELETE FROM p WHERE id = 1')
      .then(() => changelogEvents(s.fx.conn, s.fx.database, s.lastSeq));
    assert.deepEqual(
      events.map((e) => `${e.table}:${e.op}:${JSON.stringify(e.before)}`),
      ['c:d:{"id":1,"p_id":1}', 'p:d:{"id":1}'],
    );
  } finally {
    await s.close();
  }
});

test('doctor names every cascade trigger capture cannot see, by table and constraint, with the fix', async () => {
  const fx = await freshDatabase('cx_doctor', [
    'CREATE TABLE p (id INT PRIMARY KEY)',
    `CREATE TABLE c (id INT PRIMARY KEY, p_id INT NULL,
       CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE)`,
    `CREATE TABLE tree (id INT PRIMARY KEY, parent INT NULL,
       CONSTRAINT tree_parent FOREIGN KEY (parent) REFERENCES tree (id) ON DELETE CASCADE)`,
    'CREATE TABLE q (id INT PRIMARY KEY, code INT UNIQUE)',
    `CREATE TABLE two (id INT PRIMARY KEY, q_id INT NULL, q_code INT NULL,
       CONSTRAINT two_id FOREIGN KEY (q_id) REFERENCES q (id) ON DELETE SET NULL,
       CONSTRAINT two_code FOREIGN KEY (q_code) REFERENCES q (code) ON DELETE SET NULL)`,
  ]);
  try {
    // p is left out of source.tables: deleting a p row removes c rows that no trigger sees.
    const config = { ...fx.config, source: { ...fx.config.source, tables: ['c', 'tree', 'q', 'two'] } };
    const checks = await doctor(config);
    const capture = checks.filter((c) => c.name.startsWith('capture'));
    const of = (table: string) => capture.filter((c) => c.name === `capture of ${table}`);
    assert.equal(of('c')[0]?.state, 'fail');
    assert.match(of('c')[0]!.detail, /c_p/);
    assert.match(of('c')[0]!.fix!, /add p to source\.tables/);
    // Self-reference: captured to InnoDB's own depth limit, said as a warning with its cost.
    assert.equal(of('tree')[0]?.state, 'warn');
    assert.match(of('tree')[0]!.detail, /15 levels, deeper than InnoDB cascades/);
    // Two SET NULL paths from q into one row of `two`: two events from one before image.
    assert.equal(of('two')[0]?.state, 'fail');
    assert.match(of('two')[0]!.detail, /two cascading paths/);
    assert.equal(capture.length, 3, JSON.stringify(capture, null, 2));
  } finally {
    await fx.close();
  }
});
