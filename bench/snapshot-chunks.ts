// What the snapshot's chunk size costs, on the local stack (decision 0004):
//   1. raw snapshot speed (no relay: the changelog is emptied between runs) for a single-column and
//      a composite primary key;
//   2. application transactions that update two random rows each, from 4 connections, while
//      snapshots of the same table run back to back: how many fail with a deadlock (errno 1213).
//
//   npx tsx bench/snapshot-chunks.ts [--chunks 500,1000,2000,5000] [--rows 200000] [--seconds 10]
//
// Needs the local stack (`syncline stack up`). Uses a throw-away database, dropped at the end.
// Not part of `npm run bench`: it measures one setting, not the pipeline.
import { parseArgs } from 'node:util';
import type { Connection } from 'mysql2/promise';
import { loadConfig } from '../src/config/load.ts';
import { resetSnapshot, snapshotTable } from '../src/capture/snapshot/snapshot.ts';
import { CHANGELOG_TABLE } from '../src/capture/trigger/ddl.ts';
import { capturedTables, installTriggers } from '../src/capture/trigger/install.ts';
import { connect } from '../src/mysql/connect.ts';
import { quoteId } from '../src/mysql/identifiers.ts';

const { values: args } = parseArgs({
  options: {
    chunks: { type: 'string', default: '500,1000,2000,5000' },
    rows: { type: 'string', default: '200000' },
    seconds: { type: 'string', default: '10' },
    'state-dir': { type: 'string', default: '.syncline' },
  },
});
const chunks = args.chunks.split(',').map(Number);
const rows = Number(args.rows);
const seconds = Number(args.seconds);
const database = `bench_snapshot_chunks_${process.pid}`;
const config = loadConfig({ stateDir: args['state-dir'], overrides: { database } });
const target = { url: config.source.url, password: config.source.password };

const admin = await connect(target);
await admin.query(`CREATE DATABASE ${quoteId(database)}`);
const conn = await connect({ ...target, database });
try {
  // single: 1 key column; pair: 2 key columns; hot: the small table the writers contend on.
  await conn.query('CREATE TABLE single (id INT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40))');
  await conn.query('CREATE TABLE pair (a INT, b VARCHAR(10), v INT NOT NULL, PRIMARY KEY (a, b))');
  await conn.query('CREATE TABLE hot (id INT PRIMARY KEY, a INT NOT NULL)');
  for (let start = 0; start < rows; start += 5000) {
    const n = Math.min(5000, rows - start);
    const ids = Array.from({ length: n }, (_, i) => start + i + 1);
    await conn.query(`INSERT INTO single VALUES ${ids.map((i) => `(${i}, ${i * 3}, 'row ${i}')`).join(',')}`);
    await conn.query(
      `INSERT INTO pair VALUES ${ids.map((i) => `(${Math.floor(i / 3)}, 'x${i % 3}', ${i})`).join(',')}`,
    );
  }
  await conn.query(
    `INSERT INTO hot VALUES ${Array.from({ length: 5000 }, (_, i) => `(${i + 1}, 0)`).join(',')}`,
  );
  const tables = await capturedTables(conn, database, ['single', 'pair', 'hot']);
  await installTriggers(conn, tables);
  const byName = new Map(tables.map((t) => [t.name, t]));

  const speed = async (name: string, chunkSize: number): Promise<number> => {
    await resetSnapshot(conn, name);
    await conn.query(`TRUNCATE ${quoteId(CHANGELOG_TABLE)}`);
    const t0 = performance.now();
    const p = await snapshotTable(conn, byName.get(name)!, { maxBacklog: 0, chunkSize });
    return Math.round(p.rowsDone / ((performance.now() - t0) / 1000));
  };

  const contention = async (chunkSize: number): Promise<{ transactions: number; deadlocks: number }> => {
    let writing = true;
    let transactions = 0;
    let deadlocks = 0;
    const writer = async (): Promise<void> => {
      const c: Connection = await connect({ ...target, database });
      while (writing) {
        transactions++;
        try {
          await c.beginTransaction();
          for (let i = 0; i < 2; i++)
            await c.query('UPDATE hot SET a = a + 1 WHERE id = ?', [1 + Math.floor(Math.random() * 5000)]);
          await c.commit();
        } catch (err) {
          await c.rollback().catch(() => undefined);
          if ((err as { errno?: number }).errno === 1213) deadlocks++;
          else throw err;
        }
      }
      await c.end();
    };
    const writers = [0, 1, 2, 3].map(writer);
    const until = Date.now() + seconds * 1000;
    try {
      while (Date.now() < until) {
        await resetSnapshot(conn, 'hot');
        await snapshotTable(conn, byName.get('hot')!, { maxBacklog: 0, chunkSize });
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    await conn.query(`TRUNCATE ${quoteId(CHANGELOG_TABLE)}`);
    return { transactions, deadlocks };
  };

  const results = [];
  for (const chunkSize of chunks) {
    const result = {
      chunkSize,
      singleKeyRowsPerSecond: await speed('single', chunkSize),
      compositeKeyRowsPerSecond: await speed('pair', chunkSize),
      ...(await contention(chunkSize)),
    };
    console.log(JSON.stringify(result));
    results.push(result);
  }
  console.log(
    `\n| chunk rows | snapshot, 1 key / 2 keys (rows/s) | two-row transactions failing with 1213 |`,
  );
  console.log(`| --- | --- | --- |`);
  for (const r of results)
    console.log(
      `| ${r.chunkSize} | ${r.singleKeyRowsPerSecond} / ${r.compositeKeyRowsPerSecond} | ${r.deadlocks} of ${r.transactions} |`,
    );
} finally {
  await conn.end();
  await admin.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`);
  await admin.end();
}
