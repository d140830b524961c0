// Differential fuzz test of capture (issue 11), in both capture modes: random transactions from
// every DML form (test/support/capture-workload.ts) on 4 concurrent connections; the relay (or the
// binlog reader) publishes to Kafka; the events, applied in seq order to an in-memory model, must
// equal SELECT * of every table at the end of every round. The binlog carries no row events for
// foreign-key cascades (the reader warns about them at start), so its run declares the same
// constraints RESTRICT: the statements that would cascade are refused instead.
//
//   SYNCLINE_FUZZ_SEED=<n>      replay one run (the seed is printed on every run)
//   SYNCLINE_FUZZ_ROUNDS=<n>    rounds (default 20)
//   SYNCLINE_FUZZ_TRUNCATE=0    leave TRUNCATE TABLE out (it is in by default: the relay's `t` + `r` events)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer, stringDeserializers, type Message } from '@platformatic/kafka';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import { connectionOptions, createAdmin, ensureTopics } from '../../src/kafka/client.ts';
import { topicName, type ChangeEvent } from '../../src/model/event.ts';
import { createPool } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { TRUNCATE_STATE_TABLE, innodbTableIds } from '../../src/capture/trigger/truncate.ts';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import {
  CAPTURE_MODES,
  changelogCount,
  freshDatabase,
  newCapture,
  synclineTriggers,
  waitForCapture,
  type CaptureMode,
} from './capture-support.ts';
import {
  CaptureModel,
  WORKLOAD_DDL,
  WORKLOAD_TABLES,
  addStats,
  emptyStats,
  runWorkload,
  tableImages,
  type ModelEvent,
} from '../support/capture-workload.ts';

const SEED = Number(process.env.SYNCLINE_FUZZ_SEED ?? Math.floor(Math.random() * 1_000_000));
const ROUNDS = Number(process.env.SYNCLINE_FUZZ_ROUNDS ?? 50);
const TRUNCATE = process.env.SYNCLINE_FUZZ_TRUNCATE !== '0';
const CONNECTIONS = 4;
const TRANSACTIONS_PER_ROUND = 40;

/**
 * The relay notices a TRUNCATE by the table's new InnoDB id, writes the `t` marker and reloads the
 * table: wait until it has recorded the current id, finished the reload and drained the changelog.
 */
async function truncateHandled(conn: Connection, database: string, table: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ids = await innodbTableIds(conn, database);
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT CAST(table_id AS CHAR) AS id, reload FROM ${quoteId(database)}.${quoteId(TRUNCATE_STATE_TABLE)} WHERE tbl = ?`,
      [table],
    );
    const state = rows[0];
    if (state && String(state.id) === ids.get(table) && Number(state.reload) === 0) {
      if ((await changelogCount(conn, database)) === 0) return;
    }
    if (Date.now() > deadline) throw new Error(`TRUNCATE of ${table} not handled by the relay within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A consumer kept open for the whole run, so each round reads only what is new. */
class TopicFollower {
  readonly messages: Message<string, string, string, string>[] = [];
  readonly #seen = new Map<string, bigint>();
  #consumer: Consumer<string, string, string, string>;
  #done: Promise<void> = Promise.resolve();
  #stream: { close(): Promise<void> } | null = null;

  constructor(
    kafka: Parameters<typeof connectionOptions>[0],
    readonly topics: string[],
  ) {
    this.#consumer = new Consumer({
      ...connectionOptions(kafka, '-fuzz'),
      groupId: `syncline-fuzz-${process.pid}-${Date.now()}`,
      deserializers: stringDeserializers,
    });
  }

  async start(): Promise<void> {
    const stream = await this.#consumer.consume({
      topics: this.topics,
      mode: 'earliest',
      autocommit: false,
      maxWaitTime: 100,
    });
    this.#stream = stream as unknown as { close(): Promise<void> };
    this.#done = (async () => {
      for await (const m of stream as AsyncIterable<Message<string, string, string, string>>) {
        this.messages.push(m);
        this.#seen.set(`${m.topic}:${m.partition}`, m.offset + 1n);
      }
    })().catch(() => undefined);
  }

  /** Wait until every message up to the current end of every partition has arrived. */
  async catchUp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const ends = await this.#consumer.listOffsets({ topics: this.topics });
    for (;;) {
      let behind = false;
      for (const [topic, offsets] of ends)
        offsets.forEach((end, partition) => {
          if (end > (this.#seen.get(`${topic}:${partition}`) ?? 0n)) behind = true;
        });
      if (!behind) return;
      if (Date.now() > deadline) throw new Error(`Kafka consumer did not catch up within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.#stream?.close().catch(() => undefined);
    await this.#done;
    await new Promise<void>((resolve) => this.#consumer.close(true, () => resolve()));
  }
}

for (const mode of CAPTURE_MODES)
  test(`${mode} capture fuzz: ${ROUNDS} rounds of random transactions on ${CONNECTIONS} connections, the captured stream equals the tables after every round`, async () => {
    await fuzzRun(mode);
  });

async function fuzzRun(mode: CaptureMode): Promise<void> {
  process.stdout.write(
    `capture fuzz (${mode}): seed ${SEED} (SYNCLINE_FUZZ_SEED=${SEED} replays it), ${ROUNDS} rounds, truncate ${TRUNCATE}\n`,
  );
  const ddl =
    mode === 'binlog'
      ? WORKLOAD_DDL.map((d) => d.replace(/ON (DELETE|UPDATE) (CASCADE|SET NULL)/g, 'ON $1 RESTRICT'))
      : WORKLOAD_DDL;
  const fx = await freshDatabase('cfuzz', ddl, mode);
  const pool = createPool({ url: fx.stack.mysqlUrl, database: fx.database }, CONNECTIONS + 1);
  const tables = await capturedTables(fx.conn, fx.database, WORKLOAD_TABLES);
  if (mode === 'trigger') await installTriggers(fx.conn, tables);
  const schemas = new Map(tables.map((t) => [t.name, t]));
  const model = new CaptureModel(schemas);
  // The relay notices a TRUNCATE late and reloads the table; the binlog has it in commit order.
  if (TRUNCATE && mode === 'trigger') model.lenient.add('kv2');
  const topics = WORKLOAD_TABLES.map((t) => topicName(fx.config.kafka.topicPrefix, fx.database, t));
  const admin = createAdmin(fx.config.kafka);
  try {
    await ensureTopics(admin, topics, { partitions: fx.config.kafka.partitions, replicationFactor: 1 });
  } finally {
    await admin.close().catch(() => undefined);
  }
  const follower = new TopicFollower(fx.config.kafka, topics);
  await follower.start();
  const relay = newCapture(fx.config);
  const relayRun = relay.run();
  const totals = emptyStats();
  const applied = new Set<string>();
  let consumed = 0;
  let events = 0;
  let rowsSeen = 0;
  const started = Date.now();
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const stats = await runWorkload({
        pool,
        connections: CONNECTIONS,
        transactions: TRANSACTIONS_PER_ROUND,
        seed: SEED * 100_003 + round,
        truncate: TRUNCATE,
      });
      addStats(totals, stats);
      await waitForCapture(relay, fx.config, fx.conn, 60_000);
      if (stats.truncates > 0 && mode === 'trigger') await truncateHandled(fx.conn, fx.database, 'kv2');
      await follower.catchUp();
      const fresh = follower.messages.slice(consumed);
      consumed = follower.messages.length;
      const batch: ModelEvent[] = [];
      for (const m of fresh) {
        const event = JSON.parse(m.value) as ChangeEvent & { op: ModelEvent['op'] };
        // Relay retries may publish an event twice, and a `t` goes to every partition: once each.
        const id = `${event.source.table}\u0000${event.source.seq}\u0000${m.key ?? ''}`;
        if (applied.has(id)) continue;
        applied.add(id);
        batch.push({
          table: event.source.table,
          op: event.op,
          before: event.before,
          after: event.after,
          seq: BigInt(event.source.seq),
        });
      }
      batch.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
      events += batch.length;
      let difference: string | null = null;
      try {
        for (const e of batch) model.apply(e);
        difference = model.diff(await tableImages(pool, schemas, model));
      } catch (err) {
        difference = (err as Error).message;
      }
      rowsSeen = Math.max(
        rowsSeen,
        [...model.rows.values()].reduce((n, m) => n + m.size, 0),
      );
      assert.equal(
        difference,
        null,
        `seed ${SEED} (SYNCLINE_FUZZ_SEED=${SEED}), round ${round}: first difference: ${difference}`,
      );
      if (round % 100 === 0)
        process.stdout.write(
          `capture fuzz: round ${round}: ${totals.transactions} transactions, ${totals.statements} statements, ${events} events, equal\n`,
        );
    }
    if (mode === 'binlog') assert.deepEqual(await synclineTriggers(fx.conn, fx.database), []);
  } finally {
    relay.stop();
    await relayRun;
    await follower.close();
    await pool.end();
    await fx.close();
  }
  const forms = Object.entries(totals.forms)
    .sort((a, b) => b[1] - a[1])
    .map(([f, n]) => `${f} ${n}`)
    .join(', ');
  process.stdout.write(
    `capture fuzz (${mode}): seed ${SEED}: ${ROUNDS} rounds in ${((Date.now() - started) / 1000).toFixed(1)} s, ${totals.transactions} transactions (${totals.commits} committed, ${totals.rollbacks} rolled back, ${totals.deadlocks} deadlocks, ${totals.lockWaits} lock-wait timeouts), ${totals.statements} statements (${totals.statementErrors} refused by the server), ${totals.savepointRollbacks} savepoint rollbacks, ${totals.truncates} truncates, ${totals.lostTransactions} transactions ended by the server${totals.lostDetails.length ? ` (${totals.lostDetails.slice(0, 3).join(' | ')})` : ''}, ${events} events applied (at most ${rowsSeen} rows at a round's end), model equal to the tables after every round\n  forms: ${forms}\n`,
  );
  assert.ok(totals.commits > 0 && events > 0, 'the workload committed something');
}
