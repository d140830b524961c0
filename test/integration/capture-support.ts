// Shared helpers of the capture integration tests: a fresh database per test, a resolved config
// pointing at the local stack, running the relay in-process until the changelog is empty, and
// reading the published events back from Kafka.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import pino from 'pino';
import { resolveConfig, type Config } from '../../src/config/load.ts';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { readTopics, type ReadMessage } from '../../src/kafka/client.ts';
import { topicName, type ChangeEvent } from '../../src/model/event.ts';
import { createCaptureMetrics } from '../../src/capture/metrics.ts';
import { Relay } from '../../src/capture/trigger/relay.ts';
import { CHANGELOG_TABLE } from '../../src/capture/trigger/ddl.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

export interface CaptureFixture {
  stack: TestStack;
  database: string;
  config: Config;
  /** A connection with the test database selected. */
  conn: Connection;
  close(): Promise<void>;
}

export function testConfig(stack: TestStack, database: string, extra: { tables?: string[] | '*'; topicPrefix?: string; batchSize?: number } = {}): Config {
  return resolveConfig(
    {
      source: {
        name: 'syncline',
        url: stack.mysqlUrl,
        database,
        tables: extra.tables ?? '*',
        relay: { batchSize: extra.batchSize ?? 2000, pollIntervalMs: 50, lockWaitSeconds: 1 },
      },
      kafka: { brokers: stack.kafkaBrokers, topicPrefix: extra.topicPrefix ?? uniqueName('t'), partitions: 3, replicationFactor: 1 },
      sinks: { mongodb: { url: stack.mongoUrl }, redis: { url: stack.redisUrl } },
    },
    { stateDir: mkdtempSync(path.join(tmpdir(), 'syncline-test-')) },
  );
}

export async function freshDatabase(prefix: string, ddl: string[] = []): Promise<CaptureFixture> {
  const stack = await getStack();
  const database = uniqueName(prefix);
  const conn = await connect({ url: stack.mysqlUrl });
  await conn.query(`CREATE DATABASE ${quoteId(database)} CHARACTER SET utf8mb4`);
  await conn.query(`USE ${quoteId(database)}`);
  for (const statement of ddl) await conn.query(statement);
  const config = testConfig(stack, database);
  return {
    stack,
    database,
    config,
    conn,
    close: async () => {
      await conn.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`).catch(() => undefined);
      await conn.end();
    },
  };
}

export async function changelogCount(conn: Connection, database: string): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${quoteId(database)}.${quoteId(CHANGELOG_TABLE)}`);
  return Number(rows[0]?.n);
}

export const quietLogger = pino({ level: process.env.SYNCLINE_TEST_LOG ?? 'warn' });

/** Run a relay in this process until the changelog stays empty, then stop it. */
export async function drainWithRelay(config: Config, conn: Connection, timeoutMs = 60_000): Promise<number> {
  const relay = new Relay(config, { logger: quietLogger, metrics: createCaptureMetrics(), statusFile: false });
  const running = relay.run();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`changelog not drained within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
      if ((await changelogCount(conn, config.source.database)) === 0 && relay.published > 0) {
        // One more poll interval so the batch whose DELETE just committed is fully accounted.
        await new Promise((r) => setTimeout(r, 100));
        break;
      }
    }
  } finally {
    relay.stop();
    await running;
  }
  return relay.published;
}

export interface PublishedEvent {
  topic: string;
  partition: number;
  offset: bigint;
  key: string;
  value: string;
  event: ChangeEvent;
}

export async function readEvents(config: Config, tables: string[]): Promise<PublishedEvent[]> {
  const topics = tables.map((t) => topicName(config.kafka.topicPrefix, config.source.database, t));
  const messages: ReadMessage[] = await readTopics(config.kafka, topics);
  return messages.map((m) => ({
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: m.key,
    value: m.value ?? '',
    event: JSON.parse(m.value ?? 'null') as ChangeEvent,
  }));
}

/** Sort by source.seq (numerically, as BigInt). */
export function bySeq(a: PublishedEvent, b: PublishedEvent): number {
  const x = BigInt(a.event.source.seq);
  const y = BigInt(b.event.source.seq);
  return x < y ? -1 : x > y ? 1 : 0;
}
