// The demo database: schema with the promised constraints, a fast deterministic seed, a live
// workload at a target rate, and `syncline init` writing a config that loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { readCatalog } from '../../src/mysql/catalog.ts';
import { createDemoSchema, seedDemo } from '../../src/mysql/demo/seed.ts';
import { runWorkload } from '../../src/mysql/demo/workload.ts';
import { loadConfig } from '../../src/config/load.ts';
import { getStack, uniqueName } from '../support/stack.ts';

async function checksums(conn: Awaited<ReturnType<typeof connect>>, database: string): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `CHECKSUM TABLE ${['customers', 'products', 'orders', 'order_items'].map((t) => `${quoteId(database)}.${quoteId(t)}`).join(', ')}`,
  );
  return rows.map((r) => String(r.Checksum));
}

test('demo seed writes 100,000 rows well under a minute, identically for the same seed, with keys and constraints in place', async () => {
  const stack = await getStack();
  const conn = await connect({ url: stack.mysqlUrl });
  const a = uniqueName('demo_a');
  const b = uniqueName('demo_b');
  try {
    await createDemoSchema(conn, a, { reset: true });
    const started = Date.now();
    const counts = await seedDemo(conn, a, 100_000, 42);
    const seconds = (Date.now() - started) / 1000;
    console.log(`demo seed: 100,000 rows in ${seconds.toFixed(1)} s`);
    assert.ok(seconds < 30, `seeding took ${seconds} s`);
    assert.equal(counts.customers + counts.products + counts.orders + counts.order_items, 100_000);

    await createDemoSchema(conn, b, { reset: true });
    await seedDemo(conn, b, 100_000, 42);
    assert.deepEqual(await checksums(conn, a), await checksums(conn, b), 'same seed, different data');

    const [fk] = await conn.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND DELETE_RULE = 'RESTRICT'",
      [a],
    );
    assert.equal(Number(fk[0]!.n), 3);
    const [fkErrors] = await conn.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM ${quoteId(a)}.order_items i LEFT JOIN ${quoteId(a)}.orders o ON o.id = i.order_id WHERE o.id IS NULL`,
    );
    assert.equal(Number(fkErrors[0]!.n), 0, 'order_items reference missing orders');
    await assert.rejects(
      conn.query(`INSERT INTO ${quoteId(a)}.order_items VALUES (1, 999, 1, 0, 1.00, 0)`),
      /ck_items_quantity|CONSTRAINT/,
    );

    const tables = await readCatalog(conn, a, { tables: '*' });
    const items = tables.find((t) => t.name === 'order_items')!;
    assert.deepEqual(items.primaryKey, ['order_id', 'line_no']);
    const kinds = new Set(tables.flatMap((t) => t.columns.map((c) => c.kind)));
    for (const kind of [
      'bigint_unsigned',
      'decimal',
      'float',
      'double',
      'bit1',
      'bitn',
      'bool',
      'date',
      'datetime',
      'timestamp',
      'time',
      'year',
      'string',
      'binary',
      'enum',
      'set',
      'json',
    ]) {
      assert.ok(kinds.has(kind as never), `the demo schema has no ${kind} column`);
    }
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(a)}`);
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(b)}`);
    await conn.end();
  }
});

test('the workload runs mixed inserts, updates and deletes from several connections near the target rate', async () => {
  const stack = await getStack();
  const conn = await connect({ url: stack.mysqlUrl });
  const db = uniqueName('demo_w');
  try {
    await createDemoSchema(conn, db, { reset: true });
    await seedDemo(conn, db, 2000, 1);
    const stats = await runWorkload({
      target: { url: stack.mysqlUrl },
      database: db,
      ratePerSecond: 200,
      connections: 4,
      durationMs: 3000,
      seed: 3,
    });
    console.log(`demo workload: ${JSON.stringify(stats)}`);
    assert.ok(stats.inserts > 0 && stats.updates > 0 && stats.deletes > 0, JSON.stringify(stats));
    assert.ok(stats.pkChanges > 0 && stats.rollbacks > 0, JSON.stringify(stats));
    const rate = (stats.transactions * 1000) / stats.elapsedMs;
    assert.ok(rate > 100 && rate < 260, `rate ${rate.toFixed(0)}/s for a target of 200/s`);
    assert.equal(stats.errors, 0);
    const [moved] = await conn.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM ${quoteId(db)}.order_items WHERE line_no > 100`,
    );
    assert.ok(Number(moved[0]!.n) > 0, 'some order lines moved to another primary key');
    const [rolledBack] = await conn.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM ${quoteId(db)}.orders WHERE notes = 'rolled back'`,
    );
    assert.equal(Number(rolledBack[0]!.n), 0, 'nothing of a rolled-back transaction is visible');
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(db)}`);
    await conn.end();
  }
});

test('the workload carries on after its connections are killed, as an application pool does across a MariaDB restart', async () => {
  const stack = await getStack();
  const conn = await connect({ url: stack.mysqlUrl });
  const db = uniqueName('demo_k');
  try {
    await createDemoSchema(conn, db, { reset: true });
    await seedDemo(conn, db, 2000, 1);
    const work = runWorkload({
      target: { url: stack.mysqlUrl },
      database: db,
      ratePerSecond: 100,
      connections: 4,
      durationMs: 4000,
      seed: 5,
    });
    await new Promise((r) => setTimeout(r, 1500));
    const [victims] = await conn.query<RowDataPacket[]>(
      'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
      [db],
    );
    assert.ok(victims.length > 0, 'the workload has connections to kill');
    for (const v of victims) await conn.query(`KILL CONNECTION ${Number(v.ID)}`).catch(() => undefined);
    const [, after] = await Promise.all([
      work,
      (async () => {
        await new Promise((r) => setTimeout(r, 1500));
        const [rows] = await conn.query<RowDataPacket[]>(
          'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
          [db],
        );
        return Number(rows[0]!.n);
      })(),
    ]);
    const stats = await work;
    console.log(`workload across killed connections: ${JSON.stringify(stats)}`);
    assert.ok(after > 0, 'the workload opened new connections after the kill');
    // 4 s at 100/s is 400 transactions; the kill costs at most a few of them.
    assert.ok(stats.transactions > 300, JSON.stringify(stats));
    assert.ok(stats.errors <= victims.length * 2, JSON.stringify(stats));
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(db)}`);
    await conn.end();
  }
});

test('syncline init writes a starter config from the catalog that loads and lists the tables with a key', async () => {
  const stack = await getStack();
  const conn = await connect({ url: stack.mysqlUrl });
  const db = uniqueName('demo_i');
  try {
    await createDemoSchema(conn, db, { reset: true });
    await conn.query(`CREATE TABLE ${quoteId(db)}.no_key (x INT)`);
    const dir = mkdtempSync(path.join(tmpdir(), 'syncline-init-'));
    const out = path.join(dir, 'syncline.yaml');
    const main = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', main, '--state-dir', stack.stateDir, 'init', '--database', db, '--output', out],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /left out \(no primary key\): no_key/);
    const config = loadConfig({ configPath: out, stateDir: stack.stateDir });
    assert.deepEqual([...(config.source.tables as string[])].sort(), [
      'customers',
      'order_items',
      'orders',
      'products',
    ]);
    // The modeline names the installed schema by absolute path: it resolves from the user's folder.
    const modeline = /\$schema=(.+)$/m.exec(readFileSync(out, 'utf8'));
    assert.ok(modeline && path.isAbsolute(modeline[1]!) && existsSync(modeline[1]!), modeline?.[1]);
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(db)}`);
    await conn.end();
  }
});
