// Capture figures on the local stack:
//   1. trigger write overhead: rows/s written into a demo table with and without capture triggers
//   2. relay drain rate: events/s from a pre-filled changelog into Kafka (acknowledged and deleted)
//
//   npx tsx bench/capture-throughput.ts [--rows 40000] [--connections 4] [--drain 200000] [--batch 2000]
//
// Needs the local stack (`syncline stack up`). Uses a throw-away database, dropped at the end.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { RowDataPacket } from 'mysql2/promise';
import { loadConfig } from '../src/config/load.ts';
import { connect, createPool } from '../src/mysql/connect.ts';
import { quoteId } from '../src/mysql/identifiers.ts';
import { createDemoSchema, PRODUCT_COLUMNS, productValues } from '../src/mysql/demo/seed.ts';
import { Rng } from '../src/mysql/demo/random.ts';
import { capturedTables, dropTriggers, installTriggers } from '../src/capture/trigger/install.ts';
import { CHANGELOG_TABLE } from '../src/capture/trigger/ddl.ts';
import { Relay } from '../src/capture/trigger/relay.ts';
import { createCaptureMetrics } from '../src/capture/metrics.ts';

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

/** Insert `rows` products from N connections, one row per INSERT, 10 rows per transaction. */
async function writeRows(firstId: number): Promise<number> {
  const pool = createPool({ ...target, database }, connections);
  const perConn = Math.ceil(rows / connections);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const conn = await pool.getConnection();
      const rng = new Rng(c + 1);
      try {
        for (let i = 0; i < perConn; i += 10) {
          await conn.query('START TRANSACTION');
          for (let j = i; j < Math.min(perConn, i + 10); j++) {
            await conn.query(
              `INSERT INTO products ${PRODUCT_COLUMNS} VALUES ${productValues(rng, firstId + c * perConn + j)}`,
            );
          }
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

/** Update existing products by primary key from N connections, 10 single-row UPDATEs per transaction. */
async function updateRows(): Promise<number> {
  const pool = createPool({ ...target, database }, connections);
  const perConn = Math.ceil(rows / connections);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const conn = await pool.getConnection();
      try {
        for (let i = 0; i < perConn; i += 10) {
          await conn.query('START TRANSACTION');
          for (let j = i; j < Math.min(perConn, i + 10); j++) {
            await conn.query('UPDATE products SET stock = stock + 1, price = price + 0.01 WHERE id = ?', [
              c * perConn + j + 1,
            ]);
          }
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
    for (let round = 0; round < 2; round++) {
      await dropTriggers(conn, database, ['products']);
      await conn.query('TRUNCATE TABLE products');
      without = Math.max(without, await writeRows(1));
      updWithout = Math.max(updWithout, await updateRows());
      await conn.query('TRUNCATE TABLE products');
      await installTriggers(conn, tables);
      withTriggers = Math.max(withTriggers, await writeRows(1));
      updWith = Math.max(updWith, await updateRows());
      await conn.query(`TRUNCATE TABLE ${quoteId(CHANGELOG_TABLE)}`);
    }
    const pct = (a: number, b: number): string => (100 * (1 - b / a)).toFixed(1);
    console.log(
      `trigger overhead, inserts: ${Math.round(without)} rows/s without triggers, ${Math.round(withTriggers)} rows/s with (${pct(without, withTriggers)} % slower)`,
    );
    console.log(
      `trigger overhead, updates: ${Math.round(updWithout)} rows/s without triggers, ${Math.round(updWith)} rows/s with (${pct(updWithout, updWith)} % slower)`,
    );

    // Fill the changelog with realistic events (updates of the products just written: before+after images).
    const fillStarted = performance.now();
    let filled = 0;
    while (filled < drainEvents) {
      const [r] = await conn.query(
        `UPDATE products SET stock = stock + 1 ORDER BY id LIMIT ${Math.min(20_000, drainEvents - filled)}`,
      );
      filled += (r as { affectedRows: number }).affectedRows;
    }
    console.log(
      `changelog filled with ${filled} update events in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`,
    );

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

    const result = {
      at: new Date().toISOString(),
      rows,
      connections,
      rowsPerSecondWithoutTriggers: Math.round(without),
      rowsPerSecondWithTriggers: Math.round(withTriggers),
      updatesPerSecondWithoutTriggers: Math.round(updWithout),
      updatesPerSecondWithTriggers: Math.round(updWith),
      drainEvents: relay.published,
      drainEventsPerSecond: Math.round(rate),
      batchSize: Number(args.batch),
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(path.join('bench/results', `capture-${Date.now()}.json`), JSON.stringify(result, null, 2));
    await dropTriggers(conn, database, ['products']);
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`).catch(() => undefined);
    await conn.end();
  }
}

await main();
