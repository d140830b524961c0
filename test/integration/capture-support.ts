// Shared helpers of the capture integration tests: a fresh database per test, a resolved config
// pointing at the local stack, running the capture in-process (the trigger relay until the
// changelog is empty, or the binlog reader until it has read up to the server's head), and reading
// the published events back from Kafka. Tests that prove a capture property take the mode as a
// parameter and run once per mode.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import pino from 'pino';
import { stringify } from 'yaml';
import { loadConfig, resolveConfig, type Config } from '../../src/config/load.ts';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { readTopics, type ReadMessage } from '../../src/kafka/client.ts';
import { topicName, type ChangeEvent } from '../../src/model/event.ts';
import { createCaptureMetrics } from '../../src/capture/metrics.ts';
import { Relay } from '../../src/capture/trigger/relay.ts';
import { CHANGELOG_TABLE } from '../../src/capture/trigger/ddl.ts';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import {
  BinlogReader,
  currentBinlogHead,
  ensureBinlogStartPosition,
  readBinlogPosition,
  type BinlogPosition,
} from '../../src/capture/binlog/index.ts';
import { compareCoordinates } from '../../src/mysql/binlog.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

export interface CaptureFixture {
  stack: TestStack;
  database: string;
  config: Config;
  /** A connection with the test database selected. */
  conn: Connection;
  close(): Promise<void>;
}

export type CaptureMode = 'trigger' | 'binlog';

/** The capture modes every capture property is proven for. */
export const CAPTURE_MODES: CaptureMode[] = ['trigger', 'binlog'];

export function testConfig(
  stack: TestStack,
  database: string,
  extra: { tables?: string[] | '*'; topicPrefix?: string; batchSize?: number; capture?: CaptureMode } = {},
): Config {
  return resolveConfig(
    {
      source: {
        name: 'syncline',
        url: stack.mysqlUrl,
        database,
        tables: extra.tables ?? '*',
        capture: extra.capture ?? 'trigger',
        relay: { batchSize: extra.batchSize ?? 2000, pollIntervalMs: 50, lockWaitSeconds: 1 },
      },
      kafka: {
        brokers: stack.kafkaBrokers,
        topicPrefix: extra.topicPrefix ?? uniqueName('t'),
        partitions: 3,
        replicationFactor: 1,
      },
      sinks: { mongodb: { url: stack.mongoUrl }, redis: { url: stack.redisUrl } },
    },
    { stateDir: mkdtempSync(path.join(tmpdir(), 'syncline-test-')) },
  );
}

/**
 * A new database with the given tables. In binlog mode the reader's start position is recorded
 * once the tables exist, as `syncline run` does before anything is written.
 */
export async function freshDatabase(
  prefix: string,
  ddl: string[] = [],
  mode: CaptureMode = 'trigger',
): Promise<CaptureFixture> {
  const stack = await getStack();
  const database = uniqueName(prefix);
  const conn = await connect({ url: stack.mysqlUrl });
  await conn.query(`CREATE DATABASE ${quoteId(database)} CHARACTER SET utf8mb4`);
  await conn.query(`USE ${quoteId(database)}`);
  try {
    for (const statement of ddl) await conn.query(statement);
  } catch (err) {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`).catch(() => undefined);
    await conn.end();
    throw err;
  }
  const config = testConfig(stack, database, { capture: mode });
  if (mode === 'binlog') await ensureBinlogStartPosition(config);
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
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM ${quoteId(database)}.${quoteId(CHANGELOG_TABLE)}`,
  );
  return Number(rows[0]?.n);
}

export const quietLogger = pino({ level: process.env.SYNCLINE_TEST_LOG ?? 'warn' });

/** Run a relay in this process until the changelog stays empty, then stop it. */
export async function drainWithRelay(config: Config, conn: Connection, timeoutMs = 60_000): Promise<number> {
  const relay = new Relay(config, {
    logger: quietLogger,
    metrics: createCaptureMetrics(),
    statusFile: false,
  });
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

/** The relay or the binlog reader, as the test runs them in-process. */
export type Capture = Relay | BinlogReader;

export function newCapture(config: Config, options: { logger?: pino.Logger } = {}): Capture {
  const o = { logger: options.logger ?? quietLogger, metrics: createCaptureMetrics(), statusFile: false };
  return config.source.capture === 'binlog' ? new BinlogReader(config, o) : new Relay(config, o);
}

/** Trigger mode: the capture triggers on every table; binlog mode: nothing to install. */
export async function prepareCapture(mode: CaptureMode, conn: Connection, database: string): Promise<void> {
  if (mode === 'trigger') await installTriggers(conn, await capturedTables(conn, database, '*'));
}

/** Names of syncline's triggers in a database (binlog mode must leave none). */
export async function synclineTriggers(conn: Connection, database: string): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    "SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME LIKE '%syncline%'",
    [database],
  );
  return rows.map((r) => String(r.n));
}

function atOrAfter(a: BinlogPosition, b: BinlogPosition): boolean {
  return compareCoordinates(a, b) >= 0;
}

async function changelogRowsLeft(conn: Connection, database: string): Promise<number> {
  try {
    return await changelogCount(conn, database);
  } catch (err) {
    if ((err as { errno?: number }).errno === 1146) return 0;
    throw err;
  }
}

/**
 * Waits until a running capture has published everything committed before the call: the trigger
 * relay has emptied the changelog; the binlog reader has stored a position at or past the
 * server's head of now (and deleted the snapshot rows it published).
 */
export async function waitForCapture(
  capture: Capture,
  config: Config,
  conn: Connection,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const head = capture instanceof BinlogReader ? await currentBinlogHead(config) : null;
  for (;;) {
    if (Date.now() > deadline)
      throw new Error(
        `${config.source.capture} capture of ${config.source.database} not caught up within ${timeoutMs} ms`,
      );
    if (capture instanceof BinlogReader) {
      const at = capture.position;
      if (at && atOrAfter(at, head!) && (await changelogRowsLeft(conn, config.source.database)) === 0) return;
    } else if ((await changelogCount(conn, config.source.database)) === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the configured capture in this process until it has published everything committed so far. */
export async function drainWithCapture(
  config: Config,
  conn: Connection,
  timeoutMs = 60_000,
): Promise<number> {
  if (config.source.capture !== 'binlog') return drainWithRelay(config, conn, timeoutMs);
  const capture = newCapture(config);
  // A reader that stops on its own (a fatal error) must fail the wait, not time it out.
  const running = capture.run().then(
    () => new Error('the binlog reader stopped before it caught up'),
    (err: unknown) => err,
  );
  try {
    const outcome = await Promise.race([waitForCapture(capture, config, conn, timeoutMs), running]);
    if (outcome !== undefined) throw outcome;
  } finally {
    capture.stop();
    await running;
  }
  return capture.published;
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

export const KV_DDL =
  'CREATE TABLE kv (k INT NOT NULL PRIMARY KEY, v BIGINT NOT NULL, note VARCHAR(40) NULL) ENGINE=InnoDB';

export interface RandomWorkloadOptions {
  url: string;
  database: string;
  connections: number;
  transactions: number;
  /** Keys are drawn from 1..keys; few keys mean lock contention and many changes per key. */
  keys: number;
  rollbackRate: number;
  /** Share of transactions that sleep before COMMIT, so later ids commit first. */
  holdRate: number;
  holdMs: [number, number];
  seed?: number;
  /** Called every N transactions, e.g. to kill a relay in the middle. */
  onProgress?: (done: number) => void;
  /**
   * One extra connection that keeps inserting fresh keys (above `keys`, so it blocks nobody) and
   * holds each transaction open for this many ms: a guaranteed supply of late commits.
   */
  stragglerHoldMs?: number;
}

export interface RandomWorkloadResult {
  /** v values written by statements that changed a row in a committed transaction. */
  committed: Set<string>;
  /** v values written in transactions that were rolled back (deliberately or by an error). */
  rolledBack: Set<string>;
  commits: number;
  rollbacks: number;
  errors: number;
  pkChanges: number;
  elapsedMs: number;
}

/**
 * Random transactions on the kv table: inserts, updates, primary-key changes and deletes, some
 * rolled back, some held open before COMMIT. Every write sets v to a value never used before, so
 * each change is identifiable in the published events.
 */
export async function randomKvWorkload(o: RandomWorkloadOptions): Promise<RandomWorkloadResult> {
  const { createPool } = await import('../../src/mysql/connect.ts');
  const { Rng } = await import('../../src/mysql/demo/random.ts');
  const pool = createPool({ url: o.url, database: o.database }, o.connections + 1);
  const result: RandomWorkloadResult = {
    committed: new Set(),
    rolledBack: new Set(),
    commits: 0,
    rollbacks: 0,
    errors: 0,
    pkChanges: 0,
    elapsedMs: 0,
  };
  const started = Date.now();
  let issued = 0;
  let done = 0;
  let nextValue = 1;
  const worker = async (w: number): Promise<void> => {
    const rng = new Rng((o.seed ?? 7) * 1000 + w);
    const conn = await pool.getConnection();
    try {
      while (issued < o.transactions) {
        issued++;
        const written: string[] = [];
        let pkChange = false;
        try {
          await conn.query('START TRANSACTION');
          const ops = rng.int(1, 3);
          for (let i = 0; i < ops; i++) {
            const k = rng.int(1, o.keys);
            const v = String(nextValue++);
            const roll = rng.next();
            if (roll < 0.35) {
              const [r] = await conn.query(
                'INSERT INTO kv (k, v, note) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)',
                [k, v, `w${w}`],
              );
              if ((r as { affectedRows: number }).affectedRows > 0) written.push(v);
            } else if (roll < 0.7) {
              const [r] = await conn.query('UPDATE kv SET v = ?, note = ? WHERE k = ?', [
                v,
                rng.chance(0.2) ? null : `u${w}`,
                k,
              ]);
              if ((r as { affectedRows: number }).affectedRows > 0) written.push(v);
            } else if (roll < 0.85) {
              const to = rng.int(1, o.keys);
              const [r] = await conn.query('UPDATE kv SET k = ?, v = ? WHERE k = ?', [to, v, k]);
              if ((r as { affectedRows: number }).affectedRows > 0) {
                written.push(v);
                if (to !== k) pkChange = true;
              }
            } else {
              await conn.query('DELETE FROM kv WHERE k = ?', [k]);
            }
          }
          if (rng.chance(o.holdRate))
            await new Promise((r) => setTimeout(r, rng.int(o.holdMs[0], o.holdMs[1])));
          if (rng.chance(o.rollbackRate)) {
            await conn.query('ROLLBACK');
            result.rollbacks++;
            for (const v of written) result.rolledBack.add(v);
          } else {
            await conn.query('COMMIT');
            result.commits++;
            if (pkChange) result.pkChanges++;
            for (const v of written) result.committed.add(v);
          }
        } catch {
          // Duplicate key on a PK change, deadlock, lock timeout: the whole transaction is undone.
          await conn.query('ROLLBACK').catch(() => undefined);
          result.errors++;
          for (const v of written) result.rolledBack.add(v);
        }
        done++;
        if (o.onProgress && done % 500 === 0) o.onProgress(done);
      }
    } finally {
      conn.release();
    }
  };
  let workersDone = false;
  const straggler = async (): Promise<void> => {
    const conn = await pool.getConnection();
    try {
      for (let n = 1; !workersDone; n++) {
        const v = String(nextValue++);
        await conn.query('START TRANSACTION');
        await conn.query('INSERT INTO kv (k, v, note) VALUES (?, ?, ?)', [1_000_000 + n, v, 'straggler']);
        await new Promise((r) => setTimeout(r, o.stragglerHoldMs));
        await conn.query('COMMIT');
        result.commits++;
        result.committed.add(v);
      }
    } finally {
      conn.release();
    }
  };
  try {
    const stragglerRun = o.stragglerHoldMs ? straggler() : Promise.resolve();
    await Promise.all(Array.from({ length: o.connections }, (_, i) => worker(i)));
    workersDone = true;
    await stragglerRun;
  } finally {
    result.elapsedMs = Date.now() - started;
    await pool.end();
  }
  return result;
}

export interface KvCheck {
  events: number;
  duplicates: number;
  keys: number;
  /** Published out of id order: a later batch carried a lower id (a late commit). */
  lateCommits: number;
}

/**
 * Check the kv events against the workload: every committed value published, nothing rolled back
 * published, for every key the events form an unbroken chain (each before = the previous after),
 * and the replayed final state equals the table. Duplicates (same seq) are skipped and counted.
 */
export async function checkKvEvents(
  conn: Connection,
  published: PublishedEvent[],
  work: RandomWorkloadResult,
): Promise<KvCheck> {
  const seen = new Set<string>();
  const state = new Map<string, Record<string, unknown>>();
  const values = new Set<string>();
  let duplicates = 0;
  let lateCommits = 0;
  const maxSeqByPartition = new Map<string, bigint>();
  for (const p of published) {
    const seq = BigInt(p.event.source.seq);
    const part = `${p.topic}:${p.partition}`;
    const max = maxSeqByPartition.get(part) ?? 0n;
    if (seq < max && !seen.has(p.event.source.seq)) lateCommits++;
    if (seq > max) maxSeqByPartition.set(part, seq);
    if (seen.has(p.event.source.seq)) {
      duplicates++;
      continue;
    }
    seen.add(p.event.source.seq);
    const { op, before, after } = p.event;
    const current = state.get(p.key);
    if (op === 'c') {
      if (current !== undefined)
        throw new Error(`key ${p.key}: create at seq ${seq} but the row exists (${JSON.stringify(current)})`);
    } else {
      if (JSON.stringify(before) !== JSON.stringify(current)) {
        throw new Error(
          `key ${p.key}: ${op} at seq ${seq} has before ${JSON.stringify(before)} but the previous after was ${JSON.stringify(current)}`,
        );
      }
    }
    if (after) {
      state.set(p.key, after);
      values.add(String(after.v));
    } else state.delete(p.key);
  }
  const lost = [...work.committed].filter((v) => !values.has(v));
  if (lost.length > 0)
    throw new Error(`${lost.length} committed writes never published, e.g. v=${lost.slice(0, 5).join(',')}`);
  const leaked = [...work.rolledBack].filter((v) => values.has(v));
  if (leaked.length > 0)
    throw new Error(
      `${leaked.length} rolled-back writes were published, e.g. v=${leaked.slice(0, 5).join(',')}`,
    );
  const [rows] = await conn.query<RowDataPacket[]>('SELECT k, v, note FROM kv ORDER BY k');
  const expected = new Map(
    rows.map((r) => [`{"k":${r.k}}`, JSON.stringify({ k: Number(r.k), v: String(r.v), note: r.note })]),
  );
  for (const [key, row] of state) {
    if (expected.get(key) !== JSON.stringify(row))
      throw new Error(
        `key ${key}: replayed ${JSON.stringify(row)}, table has ${expected.get(key) ?? 'no row'}`,
      );
  }
  for (const key of expected.keys())
    if (!state.has(key)) throw new Error(`key ${key} is in the table but not in the replayed events`);
  return { events: published.length, duplicates, keys: state.size, lateCommits };
}

/** Write a syncline.yaml for the stack and database; returns its path and the resolved config. */
export function writeConfigFile(
  stack: TestStack,
  database: string,
  options: { batchSize?: number; partitions?: number; capture?: CaptureMode } = {},
): { file: string; config: Config } {
  const dir = mkdtempSync(path.join(tmpdir(), 'syncline-cfg-'));
  const file = path.join(dir, 'syncline.yaml');
  const topicPrefix = uniqueName('t');
  writeFileSync(
    file,
    stringify({
      source: {
        name: 'syncline',
        url: stack.mysqlUrl,
        database,
        capture: options.capture ?? 'trigger',
        relay: { batchSize: options.batchSize ?? 500, pollIntervalMs: 50, lockWaitSeconds: 1 },
      },
      kafka: {
        brokers: stack.kafkaBrokers,
        topicPrefix,
        partitions: options.partitions ?? 3,
        replicationFactor: 1,
      },
      sinks: { mongodb: { url: stack.mongoUrl }, redis: { url: stack.redisUrl } },
    }),
  );
  return { file, config: loadConfig({ configPath: file, stateDir: path.join(dir, 'state') }) };
}

const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.ts');

export interface RelayProcess {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first log line matching, rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

/** `syncline capture` as a real child process (so it can be SIGKILLed). */
export function spawnRelay(configFile: string, logLevel = 'info'): RelayProcess {
  const stateDir = path.join(path.dirname(configFile), 'state');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, '--config', configFile, '--state-dir', stateDir, 'capture'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SYNCLINE_LOG_LEVEL: logLevel },
    },
  );
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      const found = lines.find((l) => pattern.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `relay pid ${child.pid}: no log line matching ${pattern} within ${timeoutMs} ms; last lines:\n${lines.slice(-5).join('\n')}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
  };
}

export async function waitForDrain(conn: Connection, database: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await changelogCount(conn, database)) > 0) {
    if (Date.now() > deadline) throw new Error(`changelog of ${database} not drained within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * For a capture running as a child process: waits until it has published everything committed
 * before the call (trigger: the changelog is empty; binlog: the stored position reached the head).
 */
export async function waitForCaptureProcess(
  config: Config,
  conn: Connection,
  timeoutMs = 60_000,
): Promise<void> {
  if (config.source.capture !== 'binlog') return waitForDrain(conn, config.source.database, timeoutMs);
  const head = await currentBinlogHead(config);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = await readBinlogPosition(config);
    if (at && atOrAfter(at, head) && (await changelogRowsLeft(conn, config.source.database)) === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `binlog reader of ${config.source.database} did not reach ${head.file}:${head.position} within ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
