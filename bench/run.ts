// `npm run bench [-- --quick]`: the pipeline's figures and, in the same run, the raw limits of the
// services it sits on, so every figure reads as a ratio on the same machine. Reports; asserts
// nothing. Writes bench/results/<timestamp>.json and .md and prints the Markdown.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { MongoClient } from 'mongodb';
import { createClient } from 'redis';
import { createAdmin, ensureTopics } from '../src/kafka/client.ts';
import { connect } from '../src/mysql/connect.ts';
import type { LatencySummary } from '../src/observe/status.ts';
import { quoteId } from '../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../src/stack/jvm.ts';
import { resolveStackOptions } from '../src/stack/options.ts';
import { stackUp } from '../src/stack/stack.ts';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const quick = Boolean(args.quick);
const N = {
  mariadbRows: quick ? 100_000 : 500_000,
  kafkaMessages: quick ? 50_000 : 200_000,
  mongoDocs: quick ? 30_000 : 100_000,
  redisOps: quick ? 100_000 : 500_000,
  captureRows: quick ? 20_000 : 80_000,
  drainEvents: quick ? 60_000 : 200_000,
  sparkEvents: quick ? 20_000 : 100_000,
  e2eRows: quick ? 50_000 : 1_000_000,
  e2eLoads: '1000,5000',
  e2eSeconds: quick ? 30 : 180,
  e2eFlatSeconds: quick ? 30 : 120,
};

type Latency = LatencySummary;
/** What bench/e2e.ts prints. */
interface E2e {
  seededRows: number;
  initialLoad: { seconds: number; rowsPerSecondEndToEnd: number; snapshotRowsPerSecond: number | null };
  verify: { rows: number; seconds: number; rowsPerSecond: number; differences: number };
  offeredLoads: {
    offeredRowChangesPerSecond: number;
    measuredWritesPerSecond: number;
    sparkEventsPerSecond: number;
    seconds: number;
    keptUp: boolean;
    maxLagEvents: number;
    latencyMs: { mongodb: Latency; redis: Latency };
  }[];
  flatOut: {
    seconds: number;
    rowChangesPerSecond: { writes: number; relay: number; spark: number };
    sustainedEndToEndPerSecond: number;
    drainedSecondsAfterWriters: number | null;
    bottleneck: string;
    cpuCoresUsed: Record<string, number>;
  };
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const rate = (n: number, ms: number) => Math.round((n * 1000) / ms);

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (
    `${r.stdout ?? ''}${r.stderr ?? ''}`
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? 'unknown'
  );
}

async function rawMariadb(url: string): Promise<number> {
  const db = `bench_raw_${process.pid}`;
  const conn = await connect({ url });
  try {
    await conn.query(`CREATE DATABASE ${quoteId(db)}`);
    await conn.query(
      `CREATE TABLE ${quoteId(db)}.kv (k INT PRIMARY KEY, v BIGINT NOT NULL, note VARCHAR(40))`,
    );
    const t0 = performance.now();
    for (let start = 0; start < N.mariadbRows; start += 1000) {
      const values = Array.from({ length: 1000 }, (_, i) => `(${start + i}, ${i}, 'raw limit row')`).join(
        ',',
      );
      await conn.query(`INSERT INTO ${quoteId(db)}.kv VALUES ${values}`);
    }
    return rate(N.mariadbRows, performance.now() - t0);
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(db)}`);
    await conn.end();
  }
}

// An envelope of the demo's orders table is about 450 bytes; the raw limit uses the same size.
const ENVELOPE = JSON.stringify({
  op: 'u',
  before: {
    id: '1',
    customer_id: '42',
    status: 'paid',
    total: '123.45',
    currency: 'EUR',
    placed_at: '2024-05-01T12:00:00.000000',
    notes: null,
  },
  after: {
    id: '1',
    customer_id: '42',
    status: 'shipped',
    total: '123.45',
    currency: 'EUR',
    placed_at: '2024-05-01T12:00:00.000000',
    notes: 'x',
  },
  source: {
    name: 'syncline',
    db: 'shop',
    table: 'orders',
    capture: 'trigger',
    seq: '123456789',
    ts_ms: 1700000000000,
  },
  ts_ms: 1700000000000,
});

async function rawKafka(brokers: string[]): Promise<number> {
  const topic = `bench-raw-${process.pid}`;
  const admin = createAdmin({ brokers, clientId: 'bench', tls: undefined, sasl: undefined });
  await ensureTopics(admin, [topic], { partitions: 2, replicationFactor: 1 });
  const producer = new Producer({
    clientId: 'bench',
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    idempotent: true,
  });
  try {
    const t0 = performance.now();
    for (let i = 0; i < N.kafkaMessages; i += 1000) {
      await producer.send({
        messages: Array.from({ length: 1000 }, (_, j) => ({
          topic,
          key: `{"id":"${i + j}"}`,
          value: ENVELOPE,
        })),
      });
    }
    return rate(N.kafkaMessages, performance.now() - t0);
  } finally {
    await producer.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.close();
  }
}

async function rawMongo(url: string): Promise<number> {
  const client = new MongoClient(url);
  await client.connect();
  const db = client.db(`bench_raw_${process.pid}`);
  try {
    const coll = db.collection('docs');
    const t0 = performance.now();
    for (let i = 0; i < N.mongoDocs; i += 1000) {
      await coll.insertMany(
        Array.from({ length: 1000 }, (_, j) => ({
          _id: (i + j) as never,
          status: 'shipped',
          total: 123.45,
          notes: 'x',
          _sync: { v: i + j },
        })),
        { ordered: false },
      );
    }
    return rate(N.mongoDocs, performance.now() - t0);
  } finally {
    await db.dropDatabase();
    await client.close();
  }
}

async function rawRedis(url: string): Promise<number> {
  const client = createClient({ url });
  await client.connect();
  const prefix = `bench:raw:${process.pid}`;
  try {
    const t0 = performance.now();
    for (let i = 0; i < N.redisOps; i += 1000) {
      const multi = client.multi();
      for (let j = 0; j < 1000; j++)
        multi.hSet(`${prefix}:${i + j}`, { status: 'shipped', total: '123.45', _sync_v: String(i + j) });
      await multi.execAsPipeline();
    }
    return rate(N.redisOps, performance.now() - t0);
  } finally {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 }))
      if ((keys as string[]).length) await client.del(keys as string[]);
    await client.close();
  }
}

function tsx(script: string, scriptArgs: string[]): { stdout: string; stderr: string; code: number } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, script), ...scriptArgs], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', code: r.status ?? 1 };
}

function lastJson<T>(text: string): T | null {
  const start = text.lastIndexOf('\n{');
  const from = start >= 0 ? start + 1 : text.indexOf('{');
  try {
    return JSON.parse(text.slice(from)) as T;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const up = await stackUp(resolveStackOptions({}), log);
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    java: version('java', ['-version']),
    mariadb: version('mariadbd', ['--version']),
    redis: version('redis-server', ['--version']),
  };
  log('raw limits');
  const raw = {
    mariadbBatchedInsertRowsPerSecond: await rawMariadb(up.urls.mysql),
    kafkaProduceMessagesPerSecond: await rawKafka(up.urls.kafka.split(',')),
    mongoBulkInsertDocsPerSecond: await rawMongo(up.urls.mongodb),
    redisPipelinedHsetPerSecond: await rawRedis(up.urls.redis),
  };
  log(JSON.stringify(raw));

  log('capture (trigger overhead, relay drain)');
  const before = new Set(readdirSync(join(PROJECT_ROOT, 'bench', 'results')));
  const cap = tsx('bench/capture-throughput.ts', [
    '--rows',
    String(N.captureRows),
    '--drain',
    String(N.drainEvents),
  ]);
  const capFile = readdirSync(join(PROJECT_ROOT, 'bench', 'results')).find(
    (f) => f.startsWith('capture-') && !before.has(f),
  );
  if (!capFile) log(`capture benchmark failed: ${cap.stderr.slice(-500)}`);
  const capture: Record<string, number> = capFile
    ? (JSON.parse(readFileSync(join(PROJECT_ROOT, 'bench', 'results', capFile), 'utf8')) as Record<
        string,
        number
      >)
    : {};

  log('Spark job (pre-filled topic into both sinks)');
  const sp = tsx('bench/spark-throughput.ts', [
    String(N.sparkEvents),
    String(Math.round(N.sparkEvents / 4)),
    String(Math.round(N.sparkEvents / 4)),
  ]);
  const spark: Record<string, number> = lastJson<Record<string, number>>(sp.stdout) ?? {};
  if (!spark.steadyEventsPerSecond) log(`Spark benchmark failed: ${sp.stderr.slice(-500)}`);

  log(
    `end to end (${N.e2eRows} rows; offered ${N.e2eLoads} row changes/s for ${N.e2eSeconds} s each; flat out ${N.e2eFlatSeconds} s)`,
  );
  const e2eRun = tsx('bench/e2e.ts', [
    '--rows',
    String(N.e2eRows),
    '--loads',
    N.e2eLoads,
    '--seconds',
    String(N.e2eSeconds),
    '--flat-seconds',
    String(N.e2eFlatSeconds),
  ]);
  const e2e = lastJson<E2e>(e2eRun.stdout);
  if (!e2e) log(`end-to-end benchmark failed: ${e2eRun.stderr.slice(-1500)}`);
  const verifyRowsPerSecond = e2e?.verify?.rowsPerSecond ?? null;

  const sparkRate = Number(spark.steadyEventsPerSecond ?? NaN);
  const drain = Number(capture.drainEventsPerSecond ?? NaN);
  const ratio = (a: number | null | undefined, b: number | null | undefined, digits = 3): number | null =>
    a && b && Number.isFinite(a) && Number.isFinite(b) ? +(a / b).toFixed(digits) : null;
  const slowestSinkRaw = Math.min(raw.mongoBulkInsertDocsPerSecond, raw.redisPipelinedHsetPerSecond);
  const ratios = {
    triggerWriteOverhead: ratio(capture.rowsPerSecondWithTriggers, capture.rowsPerSecondWithoutTriggers, 2),
    relayDrainVsKafkaRaw: ratio(drain, raw.kafkaProduceMessagesPerSecond),
    sparkVsSlowestSinkRaw: ratio(sparkRate, slowestSinkRaw),
    snapshotVsMariadbRaw: ratio(
      e2e?.initialLoad.snapshotRowsPerSecond,
      raw.mariadbBatchedInsertRowsPerSecond,
    ),
    initialLoadVsSpark: ratio(e2e?.initialLoad.rowsPerSecondEndToEnd, sparkRate),
    verifyVsMongoRaw: ratio(verifyRowsPerSecond, raw.mongoBulkInsertDocsPerSecond),
    flatOutVsWritesWithoutTriggers: ratio(
      e2e?.flatOut.sustainedEndToEndPerSecond,
      capture.rowsPerSecondWithoutTriggers,
    ),
  };
  const bottleneck = e2e?.flatOut.bottleneck ?? 'unknown (the end-to-end run failed)';
  const result = {
    at: started.toISOString(),
    quick,
    sizes: N,
    machine,
    raw,
    capture,
    spark,
    e2e,
    ratios,
    bottleneck,
    wallSeconds: Math.round((Date.now() - started.getTime()) / 1000),
  };
  const fmt = (n: number | null | undefined, unit = ''): string =>
    n === null || n === undefined || !Number.isFinite(n) ? '-' : `${n.toLocaleString('en-US')}${unit}`;
  const lat = (l: Latency | undefined): string =>
    l && l.samples > 0 ? `≤${fmt(l.p50)} / ≤${fmt(l.p95)} / ≤${fmt(l.p99)} ms` : '-';
  const md = [
    `# syncline benchmark ${started.toISOString()}${quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB; ${machine.node}; ${machine.java}; ${machine.mariadb}; ${machine.redis}. Wall time ${result.wallSeconds} s.`,
    '',
    '| figure | value | ratio |',
    '| --- | --- | --- |',
    `| MariaDB batched inserts, no triggers (raw) | ${fmt(raw.mariadbBatchedInsertRowsPerSecond)} rows/s | |`,
    `| Kafka produce, ${ENVELOPE.length}-byte envelopes (raw) | ${fmt(raw.kafkaProduceMessagesPerSecond)} msg/s | |`,
    `| MongoDB stand-in bulk inserts (raw) | ${fmt(raw.mongoBulkInsertDocsPerSecond)} docs/s | |`,
    `| Redis pipelined HSET (raw) | ${fmt(raw.redisPipelinedHsetPerSecond)} ops/s | |`,
    `| single-row inserts without / with triggers (4 connections) | ${fmt(capture.rowsPerSecondWithoutTriggers)} / ${fmt(capture.rowsPerSecondWithTriggers)} rows/s | with ÷ without = ${fmt(ratios.triggerWriteOverhead)} |`,
    `| relay drain into Kafka | ${fmt(drain)} events/s | ÷ Kafka raw = ${fmt(ratios.relayDrainVsKafkaRaw)} |`,
    `| Spark job into MongoDB + Redis (pre-filled topic) | ${fmt(sparkRate)} events/s (batch p50 ${fmt(spark.batchMsP50)} ms, p99 ${fmt(spark.batchMsP99)} ms) | ÷ slowest sink raw = ${fmt(ratios.sparkVsSlowestSinkRaw)} |`,
    `| snapshot into the change stream (${fmt(e2e?.seededRows)} rows) | ${fmt(e2e?.initialLoad.snapshotRowsPerSecond)} rows/s | ÷ MariaDB raw = ${fmt(ratios.snapshotVsMariadbRaw)} |`,
    `| initial load end to end (snapshot → Kafka → Spark → both sinks) | ${fmt(e2e?.initialLoad.rowsPerSecondEndToEnd)} rows/s (${fmt(e2e?.initialLoad.seconds)} s) | ÷ Spark job = ${fmt(ratios.initialLoadVsSpark)} |`,
    `| verify (${fmt(e2e?.verify.rows)} rows × 2 sinks, ${fmt(e2e?.verify.differences)} differences) | ${fmt(verifyRowsPerSecond)} rows/s | ÷ MongoDB raw = ${fmt(ratios.verifyVsMongoRaw)} |`,
    ...(e2e?.offeredLoads ?? []).map(
      (l) =>
        `| offered ${fmt(l.offeredRowChangesPerSecond)} row changes/s (measured ${fmt(l.measuredWritesPerSecond)}/s, ${l.seconds} s, ${l.keptUp ? 'kept up' : 'fell behind'}; max lag ${fmt(l.maxLagEvents)}): commit → MongoDB, commit → Redis p50 / p95 / p99 | ${lat(l.latencyMs.mongodb)}; ${lat(l.latencyMs.redis)} | |`,
    ),
    `| writers flat out (8 connections, ${fmt(e2e?.flatOut.seconds)} s): writes / relay / Spark (Spark until all applied, ${fmt(e2e?.flatOut.drainedSecondsAfterWriters)} s after the writers) | ${fmt(e2e?.flatOut.rowChangesPerSecond.writes)} / ${fmt(e2e?.flatOut.rowChangesPerSecond.relay)} / ${fmt(e2e?.flatOut.rowChangesPerSecond.spark)} row changes/s | sustained ÷ writes without triggers = ${fmt(ratios.flatOutVsWritesWithoutTriggers)} |`,
    '',
    `Bottleneck (the first stage that falls behind the one feeding it, writers flat out): **${bottleneck}**.`,
    `CPU cores used per process, writers flat out: ${
      e2e
        ? Object.entries(e2e.flatOut.cpuCoresUsed)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : '-'
    } (of ${machine.cores}).`,
    "Latencies are bucket upper bounds of the job's per-event histograms (source commit time → sink acknowledgement), over the steady part of each phase.",
  ].join('\n');
  mkdirSync(join(PROJECT_ROOT, 'bench', 'results'), { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  writeFileSync(
    join(PROJECT_ROOT, 'bench', 'results', `${stamp}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  writeFileSync(join(PROJECT_ROOT, 'bench', 'results', `${stamp}.md`), `${md}\n`);
  process.stdout.write(`${md}\n`);
}

await main();
process.exit(0);
