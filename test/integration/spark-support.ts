// Helpers for the Spark job's integration tests: golden tables and events, a job description on
// unique topics / collections / key prefixes, producing events, running the job as a child process.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Admin, Producer, compatibilityPartitioner, stringSerializers } from '@platformatic/kafka';
import { MongoClient } from 'mongodb';
import { createClient } from 'redis';
import { redact } from '../../src/config/redact.ts';
import { deleteTopicsWhere } from '../../src/kafka/client.ts';
import { unlinkMatching } from '../../src/pipeline/remove-data.ts';
import type { TableSchema } from '../../src/model/types.ts';
import {
  buildJobDescription,
  type JobDescription,
  type JobInputs,
  type JobTableInput,
} from '../../src/spark/job-description.ts';
import {
  localCommand,
  startJob,
  writeJobFile,
  type BatchProgress,
  type RunningJob,
} from '../../src/spark/launcher.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const GOLDEN_DIR = path.join(ROOT, 'contract/golden');

/** The golden tables as the catalog describes them (generated once from MariaDB). */
export function goldenTables(): TableSchema[] {
  return JSON.parse(
    readFileSync(path.join(ROOT, 'jvm/spark-job/src/test/resources/golden-tables.json'), 'utf8'),
  ) as TableSchema[];
}

export interface GoldenEvent {
  description: string;
  topic: string;
  key: Record<string, unknown>;
  value: Record<string, unknown>;
}

/** The golden events in changelog order. Their JSON text is kept as the relay wrote it. */
export function goldenEvents(): { event: GoldenEvent; keyText: string; valueText: string }[] {
  return readdirSync(GOLDEN_DIR)
    .filter((f) => /^\d+-.*\.json$/.test(f))
    .sort()
    .map((f) => {
      const text = readFileSync(path.join(GOLDEN_DIR, f), 'utf8');
      const event = JSON.parse(text) as GoldenEvent;
      // Re-serialise key and value from the raw text so big numbers keep their exact lexemes.
      return { event, keyText: rawMember(text, 'key'), valueText: rawMember(text, 'value') };
    });
}

/** The compact JSON text of a top-level member, cut from the raw file (no number rounding). */
function rawMember(text: string, member: string): string {
  const start = text.indexOf(`"${member}": `);
  if (start < 0) throw new Error(`member ${member} not found`);
  let i = start + member.length + 4;
  let depth = 0;
  let inString = false;
  let out = '';
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') {
        out += text[++i];
      } else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    if (/\s/.test(ch)) continue;
    out += ch;
    if (ch === '{' || ch === '[') depth++;
    if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) break;
    }
  }
  return out;
}

export interface SparkFixture {
  stack: TestStack;
  name: string;
  /** Topic per table name. */
  topics: Record<string, string>;
  dlqTopic: string;
  mongoDb: string;
  redisPrefix: string;
  stateDir: string;
  job: JobDescription;
  jobFile: string;
  env: NodeJS.ProcessEnv;
}

export interface FixtureOptions {
  tables: TableSchema[];
  settings?: (t: TableSchema, prefix: string) => Partial<JobTableInput>;
  inputs?: Partial<JobInputs>;
}

/** The fixtures this process made and has not removed yet (node's test runner: one file each). */
const created: SparkFixture[] = [];

export async function sparkFixture(prefix: string, o: FixtureOptions): Promise<SparkFixture> {
  const stack = await getStack();
  const name = uniqueName(prefix);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'syncline-spark-'));
  const topics: Record<string, string> = {};
  for (const t of o.tables) topics[t.name] = `${name}.${t.database}.${t.name}`;
  const dlqTopic = `${name}.dlq`;
  const redisPrefix = name;
  const job = buildJobDescription({
    name,
    source: { id: `test-source-${name}`, label: `${name}@test` },
    kafka: { bootstrapServers: stack.kafkaBrokers, dlqTopic },
    checkpointLocation: path.join(stateDir, 'checkpoint'),
    triggerIntervalMs: 500,
    progressFile: path.join(stateDir, 'progress.jsonl'),
    sinks: { mongodb: { database: name }, redis: {} },
    tables: o.tables.map((t) => ({
      schema: t,
      topic: topics[t.name]!,
      redis: { keyTemplate: `${redisPrefix}:{table}:{key}` },
      ...(o.settings?.(t, redisPrefix) ?? {}),
    })),
    ...(o.inputs ?? {}),
  });
  const jobFile = writeJobFile(job, path.join(stateDir, 'job.json'));
  const admin = new Admin({ clientId: 'spark-test-admin', bootstrapBrokers: stack.kafkaBrokers });
  try {
    await admin.createTopics({ topics: [...Object.values(topics), dlqTopic], partitions: 2, replicas: 1 });
  } finally {
    await admin.close();
  }
  const env = { ...process.env, SYNCLINE_MONGODB_URI: stack.mongoUrl, SYNCLINE_REDIS_URL: stack.redisUrl };
  const fixture = { stack, name, topics, dlqTopic, mongoDb: name, redisPrefix, stateDir, job, jobFile, env };
  created.push(fixture);
  return fixture;
}

/**
 * Removes every fixture this process made (see {@link dropFixture}); a test file's `after` calls
 * it once its jobs are stopped. A failed removal is reported, not a test failure: the stack is
 * the developer's own, and CI's starts empty.
 */
export async function dropCreatedFixtures(): Promise<void> {
  for (const f of created.splice(0))
    await dropFixture(f).catch((err: Error) =>
      // A driver error can carry a connection URL with its password.
      process.stderr.write(`cleanup of ${f.name}: ${redact(err.message)}\n`),
    );
}

export async function produce(
  f: Pick<SparkFixture, 'stack'>,
  messages: { topic: string; key: string | undefined; value: string; partition?: number }[],
): Promise<void> {
  const producer = new Producer({
    clientId: 'spark-test-producer',
    bootstrapBrokers: f.stack.kafkaBrokers,
    serializers: stringSerializers,
    partitioner: compatibilityPartitioner,
    idempotent: true,
  });
  try {
    for (let i = 0; i < messages.length; i += 500)
      await producer.send({ messages: messages.slice(i, i + 500) });
  } finally {
    await producer.close();
  }
}

export interface JobRun extends RunningJob {
  progress: BatchProgress[];
  logs: string[];
  /** Input rows every sink's queries have processed since start (the slowest sink's count). */
  processed(): number;
  /** Resolves when every sink has processed at least `rows` input rows since start. */
  waitForRows(rows: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Run the job as a child process (the same command `syncline spark` uses). */
export function runJob(f: SparkFixture, options: { jobFile?: string } = {}): JobRun {
  const progress: BatchProgress[] = [];
  const logs: string[] = [];
  const waiters: { rows: number; resolve: () => void }[] = [];
  // One query per sink (decision 0040): a row counts as processed once every sink's query has it.
  const job = JSON.parse(readFileSync(options.jobFile ?? f.jobFile, 'utf8')) as JobDescription;
  const sinks = (['mongodb', 'redis'] as const).filter((s) => job.sinks[s] !== null);
  const total = (): number =>
    Math.min(
      ...sinks.map((s) =>
        progress.filter((p) => (p.sink ?? s) === s).reduce((a, p) => a + p.numInputRows, 0),
      ),
    );
  const running = startJob(localCommand(options.jobFile ?? f.jobFile, { heap: '1g' }), f.env, {
    onProgress: (p) => {
      progress.push(p);
      for (const w of [...waiters]) if (total() >= w.rows) w.resolve();
    },
    onLog: (line) => {
      logs.push(line);
      if (process.env.SYNCLINE_TEST_LOG) process.stderr.write(`[spark] ${line}\n`);
    },
  });
  const run: JobRun = {
    ...running,
    progress,
    logs,
    processed: total,
    waitForRows: (rows, timeoutMs = 120_000) =>
      new Promise<void>((resolve, reject) => {
        if (total() >= rows) return resolve();
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `the job processed ${total()} of ${rows} rows in ${timeoutMs} ms; last log lines:\n${logs.slice(-20).join('\n')}`,
              ),
            ),
          timeoutMs,
        );
        const w = {
          rows,
          resolve: () => {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(w), 1);
            resolve();
          },
        };
        waiters.push(w);
        void running.exited.then((code) => {
          if (total() < rows) {
            clearTimeout(timer);
            reject(
              new Error(
                `the job exited (${code}) after ${total()} of ${rows} rows; last log lines:\n${logs.slice(-30).join('\n')}`,
              ),
            );
          }
        });
      }),
    stop: async () => {
      if (running.child.exitCode === null && running.child.signalCode === null) {
        running.child.kill('SIGTERM');
        const timer = setTimeout(() => running.child.kill('SIGKILL'), 15_000);
        await running.exited.catch(() => null);
        clearTimeout(timer);
      }
    },
  };
  return run;
}

type Redis = ReturnType<typeof redisClient>;
const redisClient = (url: string) => createClient({ url });

export async function withSinks<T>(
  f: Pick<SparkFixture, 'stack'>,
  fn: (mongo: MongoClient, redis: Redis) => Promise<T>,
): Promise<T> {
  const mongo = new MongoClient(f.stack.mongoUrl, { directConnection: true });
  const redis = redisClient(f.stack.redisUrl);
  await mongo.connect();
  await redis.connect();
  try {
    return await fn(mongo, redis);
  } finally {
    await mongo.close();
    await redis.quit();
  }
}

/**
 * Removes what a fixture left in the stack: its topics, its MongoDB database, its Redis entries
 * (data, tombstones, truncate floors) and its state dir. Benches call it when they are done:
 * without it each run left all of that in the user's local stack (`spark-throughput.ts 20000
 * 5000`: two topics, 5,000 documents, 5,000 Redis entries), and the stack grew with every run.
 */
export async function dropFixture(f: SparkFixture): Promise<void> {
  const admin = new Admin({ clientId: 'spark-test-admin', bootstrapBrokers: f.stack.kafkaBrokers });
  try {
    const mine = new Set([...Object.values(f.topics), f.dlqTopic]);
    await deleteTopicsWhere(admin, (t) => mine.has(t));
  } finally {
    await admin.close();
  }
  await withSinks(f, async (mongo, redis) => {
    for (const db of new Set([f.mongoDb, f.job.sinks.mongodb?.database].filter(Boolean)))
      await mongo.db(db!).dropDatabase();
    // The fixture's key template starts with its unique name; tombstones and floors name it too.
    const patterns = [
      `${f.redisPrefix}:*`,
      `syncline:tomb:{${f.redisPrefix}:*`,
      `syncline:floor:${f.job.source.id}:*`,
    ];
    await unlinkMatching(redis, patterns);
  });
  rmSync(f.stateDir, { recursive: true, force: true });
  const at = created.indexOf(f);
  if (at >= 0) created.splice(at, 1);
}

export function uniqueTestName(prefix: string): string {
  return uniqueName(prefix);
}

/**
 * A small key/value table for the replay and crash tests. `composite` adds a second key column
 * (`shard`, always 1), so MongoDB _ids are documents: the case the stand-in mishandles in upserts
 * (docs/decisions/0005).
 */
export function kvTable(options: { composite?: boolean } = {}): TableSchema {
  const col = (
    name: string,
    position: number,
    dataType: string,
    columnType: string,
    kind: TableSchema['columns'][number]['kind'],
    nullable: boolean,
  ) => ({
    name,
    position,
    dataType,
    columnType,
    kind,
    nullable,
    fsp: 0,
    precision: null,
    scale: null,
  });
  return {
    database: 'shop',
    name: 'kv',
    columns: [
      col('k', 1, 'int', 'int(11)', 'int', false),
      col('v', 2, 'bigint', 'bigint(20)', 'bigint', false),
      col('note', 3, 'varchar', 'varchar(40)', 'string', true),
      ...(options.composite
        ? [col('shard', 4, 'bigint', 'bigint(20) unsigned', 'bigint_unsigned', false)]
        : []),
    ],
    primaryKey: options.composite ? ['k', 'shard'] : ['k'],
  };
}

export interface KvEvent {
  k: number;
  /** 'r': a snapshot read, as the initial load publishes it. */
  op: 'r' | 'c' | 'u' | 'd';
  seq: number;
  v: number;
}

export function kvMessage(
  topic: string,
  e: KvEvent,
  composite = false,
): { topic: string; key: string; value: string } {
  const row = { k: e.k, v: String(e.v), note: `n${e.v}`, ...(composite ? { shard: '1' } : {}) };
  return {
    topic,
    key: JSON.stringify(composite ? { k: e.k, shard: '1' } : { k: e.k }),
    value: JSON.stringify({
      op: e.op,
      before: e.op === 'c' || e.op === 'r' ? null : row,
      after: e.op === 'd' ? null : row,
      source: {
        name: 'syncline',
        db: 'shop',
        table: 'kv',
        capture: 'trigger',
        seq: String(e.seq),
        ts_ms: 1_700_000_000_000 + e.seq,
      },
      ts_ms: 0,
    }),
  };
}

/** A TRUNCATE of kv at `seq` as the relay publishes it: null key, one copy per partition. */
export function kvTruncateMessages(
  topic: string,
  seq: number,
  partitions: number,
): { topic: string; key: undefined; value: string; partition: number }[] {
  const value = JSON.stringify({
    op: 't',
    before: null,
    after: null,
    source: {
      name: 'syncline',
      db: 'shop',
      table: 'kv',
      capture: 'trigger',
      seq: String(seq),
      ts_ms: 1_700_000_000_000 + seq,
    },
    ts_ms: 0,
  });
  return Array.from({ length: partitions }, (_, partition) => ({ topic, key: undefined, value, partition }));
}

/** What the sinks must hold: the newest event per key (absent when that event is a delete). */
export function expectedKv(events: KvEvent[]): Map<number, { v: number; seq: number } | null> {
  const newest = new Map<number, KvEvent>();
  for (const e of events) {
    const cur = newest.get(e.k);
    if (!cur || e.seq > cur.seq) newest.set(e.k, e);
  }
  const out = new Map<number, { v: number; seq: number } | null>();
  for (const [k, e] of newest) out.set(k, e.op === 'd' ? null : { v: e.v, seq: e.seq });
  return out;
}

export interface KvSinkState {
  /** Per key: the row (value and version) or null when absent. */
  mongo: Map<number, { v: number; seq: number } | null>;
  redis: Map<number, { v: number; seq: number } | null>;
  /** Per key: the version the sink holds, counting a tombstone as the version of an absent row. */
  mongoVersion: Map<number, number>;
  redisVersion: Map<number, number>;
}

export async function readKvState(f: SparkFixture, keys: number[]): Promise<KvSinkState> {
  return withSinks(f, async (mongo, redis) => {
    const db = mongo.db(f.mongoDb);
    const docs = await db.collection('kv').find({}).toArray();
    const tombs = await db.collection('_syncline_tombstones').find({ c: 'kv' }).toArray();
    const state: KvSinkState = {
      mongo: new Map(),
      redis: new Map(),
      mongoVersion: new Map(),
      redisVersion: new Map(),
    };
    const keyOf = (id: unknown): number =>
      Number(typeof id === 'object' && id !== null ? (id as { k: unknown }).k : id);
    const byKey = new Map(docs.map((d) => [keyOf(d._id), d]));
    const tombByKey = new Map(tombs.map((t) => [keyOf(t.k), Number(t.v)]));
    const suffix = f.job.tables[0]!.keyColumns.length > 1 ? ':1' : '';
    for (const k of keys) {
      const d = byKey.get(k);
      state.mongo.set(k, d ? { v: Number(d.v), seq: Number(d._sync.v) } : null);
      state.mongoVersion.set(k, d ? Number(d._sync.v) : (tombByKey.get(k) ?? 0));
      const h = await redis.hGetAll(`${f.redisPrefix}:kv:${k}${suffix}`);
      const tomb = await redis.get(`syncline:tomb:{${f.redisPrefix}:kv:${k}${suffix}}`);
      const present = Object.keys(h).length > 0;
      state.redis.set(k, present ? { v: Number(h.v), seq: Number(h._sync_v) } : null);
      // A tombstone holds '<version>@<source id>'.
      state.redisVersion.set(k, present ? Number(h._sync_v) : tomb ? Number(tomb.split('@')[0]) : 0);
    }
    return state;
  });
}

/** Waits until both sinks hold exactly `expected` for `keys`; fails with the job's log. */
export async function converged(
  f: SparkFixture,
  r: JobRun,
  keys: number[],
  expected: Map<number, unknown>,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await readKvState(f, keys);
    const wrong = keys.filter(
      (k) =>
        JSON.stringify(s.mongo.get(k)) !== JSON.stringify(expected.get(k) ?? null) ||
        JSON.stringify(s.redis.get(k)) !== JSON.stringify(expected.get(k) ?? null),
    );
    if (wrong.length === 0) return;
    assert.ok(
      Date.now() < deadline,
      `keys ${wrong.slice(0, 5).join(', ')} not converged; log:\n${r.logs.slice(-20).join('\n')}`,
    );
    assert.equal(r.child.exitCode, null, `the job exited:\n${r.logs.slice(-20).join('\n')}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
