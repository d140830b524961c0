// Capture figures on the local stack:
//   1. trigger write overhead: rows/s written into a demo table with and without capture triggers
//      (inserts, updates, no-op updates, and deletes of parents whose ON DELETE CASCADE removes
//      5 children each, which the parent's BEFORE DELETE trigger captures)
//   2. relay drain rate: events/s from a pre-filled changelog into Kafka (acknowledged and deleted)
//   3. insert and update rates while capture runs beside the writers: triggers with the relay
//      draining, and no triggers with the binlog reader; then the reader's rate into Kafka from a
//      backlog of update events in the binary log
//
//   npx tsx bench/capture-throughput.ts [--rows 40000] [--connections 4] [--drain 200000] [--batch 2000]
//
// Needs the local stack (`syncline stack up`). Uses a throw-away database, dropped at the end.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { RowDataPacket } from 'mysql2/promise';
import { loadConfig, type Config } from '../src/config/load.ts';
import { connect, createPool } from '../src/mysql/connect.ts';
import { quoteId } from '../src/mysql/identifiers.ts';
import { createDemoSchema, PRODUCT_COLUMNS, productValues } from '../src/mysql/demo/seed.ts';
import { Rng } from '../src/mysql/demo/random.ts';
import { capturedTables, dropTriggers, installTriggers } from '../src/capture/trigger/install.ts';
import { CHANGELOG_TABLE } from '../src/capture/trigger/ddl.ts';
import { Relay } from '../src/capture/trigger/relay.ts';
import { createCaptureMetrics } from '../src/capture/metrics.ts';
import { BinlogReader, currentBinlogHead, ensureBinlogStartPosition } from '../src/capture/binlog/index.ts';
import { compareCoordinates } from '../src/mysql/binlog.ts';
import { createAdmin, deleteTopicsWhere } from '../src/kafka/client.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '40000' },
    connections: { type: 'string', default: '4' },
    drain: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '5000' },
    'state-dir': { type: 'string', default: '.syncline' },
  },
});
const rows = Number(args.rows);
const connections = Number(args.connections);
const drainEvents = Number(args.drain);

const database = `bench_capture_${process.pid}`;
const base = loadConfig({ stateDir: args['state-dir'], overrides: { database } });
const config = {
  ...base,
  source: { ...base.source, relay: { ...base.source.relay, batchSize: Number(args.batch) } },
  kafka: { ...base.kafka, topicPrefix: `bench${process.pid}`, replicationFactor: 1 },
};
const target = { url: config.source.url, password: config.source.password };

/**
 * Runs `count` single-row statements split over N connections, 10 per transaction, and returns
 * statements per second. `statement(c, i)` gives the SQL and its parameters for the i-th row
 * (0-based, unique over all connections) of connection c.
 */
async function timedWrites(
  count: number,
  statement: (c: number, i: number) => [string, unknown[]?],
): Promise<number> {
  const pool = createPool({ ...target, database }, connections);
  const perConn = Math.ceil(count / connections);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const conn = await pool.getConnection();
      try {
        for (let i = 0; i < perConn; i += 10) {
          await conn.query('START TRANSACTION');
          for (let j = i; j < Math.min(perConn, i + 10); j++)
            await conn.query(...statement(c, c * perConn + j));
          await conn.query('COMMIT');
        }
      } finally {
        conn.release();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.end();
  return (perConn * connections) / seconds;
}

/** Insert `rows` products, one row per INSERT. */
function writeRows(firstId: number): Promise<number> {
  const rngs = Array.from({ length: connections }, (_, c) => new Rng(c + 1));
  return timedWrites(rows, (c, i) => [
    `INSERT INTO products ${PRODUCT_COLUMNS} VALUES ${productValues(rngs[c]!, firstId + i)}`,
  ]);
}

/** Update existing products by primary key. */
function updateRows(): Promise<number> {
  return timedWrites(rows, (_, i) => [
    'UPDATE products SET stock = stock + 1, price = price + 0.01 WHERE id = ?',
    [i + 1],
  ]);
}

/** The same UPDATE as updateRows, changing nothing: what a no-op costs (it emits no event). */
function noopUpdates(): Promise<number> {
  return timedWrites(rows, (_, i) => ['UPDATE products SET stock = stock WHERE id = ?', [i + 1]]);
}

const CHILDREN = 5;

/** Parents with CHILDREN cascading children each; returns parent deletes/s (10 per transaction). */
async function cascadeDeletes(conn: Awaited<ReturnType<typeof connect>>, capture: boolean): Promise<number> {
  const parents = Math.max(1000, Math.floor(rows / 10));
  await conn.query(`DROP TABLE IF EXISTS bench_child`);
  await conn.query(`DROP TABLE IF EXISTS bench_parent`);
  await conn.query('CREATE TABLE bench_parent (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB');
  await conn.query(`CREATE TABLE bench_child (id INT PRIMARY KEY, parent_id INT NOT NULL, v VARCHAR(40),
    CONSTRAINT bench_child_parent FOREIGN KEY (parent_id) REFERENCES bench_parent (id) ON DELETE CASCADE) ENGINE=InnoDB`);
  await conn.query(`INSERT INTO bench_parent SELECT seq, CONCAT('parent ', seq) FROM seq_1_to_${parents}`);
  await conn.query(
    `INSERT INTO bench_child SELECT seq, (seq - 1) DIV ${CHILDREN} + 1, CONCAT('child ', seq) FROM seq_1_to_${parents * CHILDREN}`,
  );
  if (capture)
    await installTriggers(conn, await capturedTables(conn, database, ['bench_parent', 'bench_child']));
  const rate = await timedWrites(parents, (_, i) => ['DELETE FROM bench_parent WHERE id = ?', [i + 1]]);
  if (capture) {
    const [n] = await conn.query<RowDataPacket[]>(
      `SELECT SUM(tbl = 'bench_child') AS children FROM ${quoteId(CHANGELOG_TABLE)}`,
    );
    if (Number(n[0]!.children) !== parents * CHILDREN)
      throw new Error(
        `cascade capture wrote ${String(n[0]!.children)} child deletes, expected ${parents * CHILDREN}`,
      );
    await dropTriggers(conn, database, ['bench_parent', 'bench_child']);
    await conn.query(`DELETE FROM ${quoteId(CHANGELOG_TABLE)} WHERE tbl IN ('bench_parent', 'bench_child')`);
  }
  await conn.query('DROP TABLE bench_child');
  await conn.query('DROP TABLE bench_parent');
  return rate;
}

/** `count` update events of the products written before (before and after images), in bulk. */
async function updateEvents(
  conn: Awaited<ReturnType<typeof connect>>,
  count: number,
  where: string,
): Promise<number> {
  const started = performance.now();
  let done = 0;
  while (done < count) {
    const [r] = await conn.query(
      `UPDATE products SET stock = stock + 1 ORDER BY id LIMIT ${Math.min(20_000, count - done)}`,
    );
    done += (r as { affectedRows: number }).affectedRows;
  }
  console.log(
    `${where} filled with ${done} update events in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return done;
}

async function main(): Promise<void> {
  const conn = await connect(target);
  try {
    await createDemoSchema(conn, database, { reset: true });
    // Only products is written; its child table would forbid TRUNCATE.
    await conn.query('DROP TABLE order_items');
    const tables = await capturedTables(conn, database, ['products']);

    // Alternate the two modes and keep the best of each: the machine is shared and noisy.
    let without = 0;
    let withTriggers = 0;
    let updWithout = 0;
    let updWith = 0;
    let noopWithout = 0;
    let noopWith = 0;
    let cascadeWithout = 0;
    let cascadeWith = 0;
    for (let round = 0; round < 2; round++) {
      await dropTriggers(conn, database, ['products']);
      await conn.query('TRUNCATE TABLE products');
      without = Math.max(without, await writeRows(1));
      updWithout = Math.max(updWithout, await updateRows());
      noopWithout = Math.max(noopWithout, await noopUpdates());
      await conn.query('TRUNCATE TABLE products');
      await installTriggers(conn, tables);
      withTriggers = Math.max(withTriggers, await writeRows(1));
      updWith = Math.max(updWith, await updateRows());
      noopWith = Math.max(noopWith, await noopUpdates());
      await conn.query(`TRUNCATE TABLE ${quoteId(CHANGELOG_TABLE)}`);
      cascadeWithout = Math.max(cascadeWithout, await cascadeDeletes(conn, false));
      cascadeWith = Math.max(cascadeWith, await cascadeDeletes(conn, true));
    }
    const pct = (a: number, b: number): string => (100 * (1 - b / a)).toFixed(1);
    console.log(
      `trigger overhead, inserts: ${Math.round(without)} rows/s without triggers, ${Math.round(withTriggers)} rows/s with (${pct(without, withTriggers)} % slower)`,
    );
    console.log(
      `trigger overhead, updates: ${Math.round(updWithout)} rows/s without triggers, ${Math.round(updWith)} rows/s with (${pct(updWithout, updWith)} % slower)`,
    );
    console.log(
      `trigger overhead, no-op updates: ${Math.round(noopWithout)} rows/s without triggers, ${Math.round(noopWith)} rows/s with (${pct(noopWithout, noopWith)} % slower)`,
    );
    console.log(
      `trigger overhead, deletes cascading to ${CHILDREN} children: ${Math.round(cascadeWithout)} parents/s without triggers, ${Math.round(cascadeWith)} parents/s with (${pct(cascadeWithout, cascadeWith)} % slower)`,
    );

    // Fill the changelog with realistic events (updates of the products just written: before+after images).
    await updateEvents(conn, drainEvents, 'changelog');

    const relay = new Relay(config, {
      logger: pino({ level: process.env.BENCH_LOG ?? 'warn' }),
      metrics: createCaptureMetrics(),
      statusFile: false,
    });
    const started = performance.now();
    const running = relay.run();
    for (;;) {
      const [c] = await conn.query<RowDataPacket[]>(
        `SELECT COUNT(*) AS n FROM ${quoteId(database)}.${quoteId(CHANGELOG_TABLE)}`,
      );
      if (Number(c[0]!.n) === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    relay.stop();
    await running;
    const rate = relay.published / seconds;
    console.log(
      `relay drain: ${relay.published} events in ${seconds.toFixed(1)} s = ${Math.round(rate)} events/s (batch ${args.batch}, ${config.kafka.partitions} partitions)`,
    );

    // 3. Binlog capture: no triggers; the application's write rate while the reader runs, then the
    //    reader's rate into Kafka from a backlog of update events in the binary log. On a small
    //    machine a running capture process takes CPU from the writers, so trigger capture is
    //    measured the same way beside it: writes with the relay draining as they go.
    await conn.query('TRUNCATE TABLE products');
    const liveRelay = new Relay(config, {
      logger: pino({ level: process.env.BENCH_LOG ?? 'warn' }),
      metrics: createCaptureMetrics(),
      statusFile: false,
    });
    const relaying = liveRelay.run();
    const insertsWithRelay = await writeRows(1);
    const updatesWithRelay = await updateRows();
    liveRelay.stop();
    await relaying;
    await dropTriggers(conn, database, ['products']);
    const binlogConfig: Config = {
      ...config,
      stateDir: mkdtempSync(path.join(tmpdir(), 'bench-binlog-')),
      source: { ...config.source, capture: 'binlog' },
    };
    const readerOptions = {
      logger: pino({ level: process.env.BENCH_LOG ?? 'warn' }),
      metrics: createCaptureMetrics(),
      statusFile: false,
    };
    const caughtUp = async (reader: BinlogReader): Promise<void> => {
      const head = await currentBinlogHead(binlogConfig);
      while (!reader.position || compareCoordinates(reader.position, head) < 0)
        await new Promise((r) => setTimeout(r, 50));
    };
    await ensureBinlogStartPosition(binlogConfig);
    let reader = new BinlogReader(binlogConfig, readerOptions);
    let reading = reader.run();
    await conn.query('TRUNCATE TABLE products');
    const insertsWithBinlog = await writeRows(1);
    const updatesWithBinlog = await updateRows();
    await caughtUp(reader);
    reader.stop();
    await reading;
    await updateEvents(conn, drainEvents, 'binlog');
    reader = new BinlogReader(binlogConfig, readerOptions);
    const readStarted = performance.now();
    reading = reader.run();
    await caughtUp(reader);
    const readSeconds = (performance.now() - readStarted) / 1000;
    reader.stop();
    await reading;
    const binlogRate = reader.published / readSeconds;
    console.log(
      `trigger capture with the relay running, inserts: ${Math.round(insertsWithRelay)} rows/s (${pct(without, insertsWithRelay)} % slower than without capture); updates ${Math.round(updatesWithRelay)} rows/s (${pct(updWithout, updatesWithRelay)} % slower)`,
    );
    console.log(
      `binlog capture with the reader running, inserts: ${Math.round(insertsWithBinlog)} rows/s (${pct(without, insertsWithBinlog)} % slower than without capture); updates ${Math.round(updatesWithBinlog)} rows/s (${pct(updWithout, updatesWithBinlog)} % slower)`,
    );
    console.log(
      `binlog reader: ${reader.published} events in ${readSeconds.toFixed(1)} s = ${Math.round(binlogRate)} events/s into Kafka`,
    );
    rmSync(binlogConfig.stateDir, { recursive: true, force: true });

    const result = {
      at: new Date().toISOString(),
      rowsPerSecondWithTriggersAndRelay: Math.round(insertsWithRelay),
      updatesPerSecondWithTriggersAndRelay: Math.round(updatesWithRelay),
      rowsPerSecondWithBinlogCapture: Math.round(insertsWithBinlog),
      updatesPerSecondWithBinlogCapture: Math.round(updatesWithBinlog),
      binlogEvents: reader.published,
      binlogEventsPerSecond: Math.round(binlogRate),
      rows,
      connections,
      rowsPerSecondWithoutTriggers: Math.round(without),
      rowsPerSecondWithTriggers: Math.round(withTriggers),
      updatesPerSecondWithoutTriggers: Math.round(updWithout),
      updatesPerSecondWithTriggers: Math.round(updWith),
      noopUpdatesPerSecondWithoutTriggers: Math.round(noopWithout),
      noopUpdatesPerSecondWithTriggers: Math.round(noopWith),
      cascadeParentDeletesPerSecondWithoutTriggers: Math.round(cascadeWithout),
      cascadeParentDeletesPerSecondWithTriggers: Math.round(cascadeWith),
      cascadeChildrenPerParent: CHILDREN,
      drainEvents: relay.published,
      drainEventsPerSecond: Math.round(rate),
      batchSize: Number(args.batch),
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(path.join('bench/results', `capture-${Date.now()}.json`), JSON.stringify(result, null, 2));
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`).catch(() => undefined);
    await conn.end();
    await dropTopics().catch((err: Error) => console.error(`cleanup: ${err.message}`));
  }
}

/** The relay's and the binlog reader's topics: hundreds of thousands of events each run. */
async function dropTopics(): Promise<void> {
  const admin = createAdmin(config.kafka);
  try {
    await deleteTopicsWhere(admin, (t) => t.startsWith(`${config.kafka.topicPrefix}.`));
  } finally {
    await admin.close();
  }
}

await main();
