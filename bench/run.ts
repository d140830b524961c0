// `npm run bench [-- --quick]`: the pipeline's figures and, in the same run, the raw limits of the
// services it sits on, so every figure reads as a ratio on the same machine. Reports; asserts
// nothing. Writes bench/results/<timestamp>.json and .md and prints the Markdown.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  /** Issue 12: the Spark stage on a pre-filled topic of 200,000 events on one table. */
  sparkOneTableEvents: quick ? 60_000 : 200_000,
  guardedDocs: quick ? 20_000 : 100_000,
  guardedBulks: quick ? 10 : 30,
  evalshaOps: quick ? 100_000 : 300_000,
  connectEvents: quick ? 20_000 : 200_000,
  /**
   * One more drain pair, five times the backlog: over 200,000 events the connector's JVM is still
   * warming up (32,600–46,400 events/s there, 59,000–67,000 over 1,000,000), so the short drain
   * alone hid how the two compare on a real backlog (decision 0101). Full runs only.
   */
  connectLongEvents: quick ? 0 : 1_000_000,
  clusterEvents: quick ? 40_000 : 120_000,
  connectSeconds: quick ? 15 : 60,
  /** Interleaved Spark/Connect pairs: the drain's median rate, the latency over all pairs' probes. */
  connectPairs: quick ? 1 : 3,
  /** The drain's pairs: one drain moves by ±15 % on this machine, so its median wants more. */
  connectDrainPairs: quick ? 1 : 5,
  probeSeconds: quick ? 15 : 45,
  e2eRows: quick ? 50_000 : 1_000_000,
  // Quick runs leave the fixed loads to the latency probe, which measures them from outside.
  e2eLoads: quick ? '0' : '1000,5000',
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
    /**
     * writes: changelog ids used (rolled-back transactions too); committed: what the relay publishes
     * or still has to; spark: until all was applied; sparkWhileWriting: while the writers ran. Older
     * runs lack the optional ones.
     */
    rowChangesPerSecond: {
      writes: number;
      committed?: number;
      relay: number;
      spark: number;
      sparkWhileWriting?: number;
    };
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

/**
 * The MongoDB server's own rate for the sink's guarded bulk writes: bulks of 500 guarded
 * replaces with upsert (`{_id, "_sync.v": {$lt: v}}`, E11000 = stale) on random existing ids of a
 * pre-filled collection, unordered, one bulk in flight. What a sink writer can hope for.
 */
async function rawMongoGuarded(url: string): Promise<number> {
  const client = new MongoClient(url);
  await client.connect();
  const db = client.db(`bench_rawg_${process.pid}`);
  try {
    const coll = db.collection<{ _id: number; status: string; total: number; _sync: { v: number } }>('docs');
    for (let i = 0; i < N.guardedDocs; i += 1000)
      await coll.insertMany(
        Array.from({ length: Math.min(1000, N.guardedDocs - i) }, (_, j) => ({
          _id: i + j,
          status: 'paid',
          total: 1,
          _sync: { v: 1 },
        })),
        { ordered: false },
      );
    let v = 1;
    const bulk = () => {
      v++;
      const ids = new Set<number>();
      while (ids.size < 500) ids.add(Math.floor(Math.random() * N.guardedDocs));
      return coll.bulkWrite(
        [...ids].map((id) => ({
          replaceOne: {
            filter: { _id: id, '_sync.v': { $lt: v } },
            replacement: { status: 'shipped', total: v, _sync: { v } },
            upsert: true,
          },
        })),
        { ordered: false },
      );
    };
    await bulk(); // warm-up
    // A server that scans for each guarded write takes minutes per bulk on a large collection:
    // after 20 s the bulks done so far give the rate.
    const t0 = performance.now();
    let done = 0;
    while (done < N.guardedBulks && (done === 0 || performance.now() - t0 < 20_000)) {
      await bulk();
      done++;
    }
    return rate(done * 500, performance.now() - t0);
  } finally {
    await db.dropDatabase();
    await client.close();
  }
}

/** Redis's rate for the job's own compare-and-set script (EVALSHA), pipelined 1,000 at a time. */
async function rawRedisEvalsha(url: string): Promise<number | null> {
  const scriptFile = join(
    PROJECT_ROOT,
    'jvm/spark-job/src/main/resources/dev/syncline/spark/redis-write.lua',
  );
  if (!existsSync(scriptFile)) return null;
  const client = createClient({ url });
  await client.connect();
  const prefix = `bench:rawlua:${process.pid}`;
  try {
    const sha = await client.scriptLoad(readFileSync(scriptFile, 'utf8'));
    const t0 = performance.now();
    for (let i = 0; i < N.evalshaOps; i += 1000) {
      const multi = client.multi();
      for (let j = 0; j < 1000; j++)
        multi.evalSha(sha, {
          keys: [`${prefix}:{${i + j}}`, `${prefix}:tomb:{${i + j}}`],
          arguments: [
            'hash',
            'set',
            String(1000 + i + j),
            '0',
            '86400',
            'bench',
            '',
            'status',
            'shipped',
            'total',
            '123.45',
          ],
        });
      await multi.execAsPipeline();
    }
    return rate(N.evalshaOps, performance.now() - t0);
  } finally {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 }))
      if ((keys as string[]).length) await client.del(keys as string[]);
    await client.close();
  }
}

function tsx(
  script: string,
  scriptArgs: string[],
  env: Record<string, string> = {},
): { stdout: string; stderr: string; code: number } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, script), ...scriptArgs], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...env },
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

/** What bench/connect-baseline.ts prints. */
interface ConnectBaseline {
  drain?: {
    events: number;
    spark?: DrainSide;
    connect?: DrainSide;
  };
  latency?: {
    rate: number;
    /** How often the bench looks for its probes: each sample is late by up to this. */
    probePollMs?: number;
    spark?: { outsideMs: OutsideLatency; inJobMs: Latency };
    connect?: { outsideMs: OutsideLatency };
  };
}
/** One side's drain; the creates (first quarter) and the rest apart when both were seen. */
interface DrainSide {
  eventsPerSecond: number;
  seconds: number;
  createsPerSecond?: number;
  restPerSecond?: number;
}
interface OutsideLatency {
  offeredEventsPerSecond?: number;
  probes?: number;
  samples?: number;
  unseen?: number;
  unseenProbes?: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
/** What bench/latency-probe.ts prints. */
interface Probe {
  phases: {
    offeredRowChangesPerSecond: number;
    measuredRowChangesPerSecond: number;
    seconds: number;
    outsideMs: { mongodb: OutsideLatency; redis: OutsideLatency; kafka?: OutsideLatency };
    inJobMs: { mongodb: Latency; redis: Latency };
  }[];
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
    mongoGuardedBulkWriteDocsPerSecond: await rawMongoGuarded(up.urls.mongodb),
    redisPipelinedHsetPerSecond: await rawRedis(up.urls.redis),
    redisEvalshaPipelinedPerSecond: await rawRedisEvalsha(up.urls.redis),
  };
  log(JSON.stringify(raw));

  log('capture (trigger overhead, relay drain)');
  // A fresh checkout has no results folder yet (it is not committed).
  mkdirSync(join(PROJECT_ROOT, 'bench', 'results'), { recursive: true });
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

  const sparkRun = (events: number, perTrigger: number, env: Record<string, string>) => {
    const r = tsx(
      'bench/spark-throughput.ts',
      [String(events), String(Math.round(events / 4)), String(perTrigger)],
      env,
    );
    const out =
      lastJson<Record<string, number> & { cpuMsPerThousandEvents?: { job: number; redis?: number } }>(
        r.stdout,
      ) ?? {};
    if (!out.drainEventsPerSecond) log(`Spark benchmark failed: ${r.stderr.slice(-500)}`);
    return out;
  };
  // Real-time mode is what `syncline run` uses by default (decision 0044); micro-batch beside it.
  log(`Spark job, pre-filled topic of ${N.sparkOneTableEvents} events on one table, into Redis only`);
  const sparkRedis = sparkRun(N.sparkOneTableEvents, Math.round(N.sparkOneTableEvents / 4), {
    SINKS: 'redis',
    REALTIME: '1',
  });
  const sparkRedisCpu = sparkRedis.cpuMsPerThousandEvents;
  const sparkRedisMicroBatch = sparkRun(N.sparkOneTableEvents, Math.round(N.sparkOneTableEvents / 4), {
    SINKS: 'redis',
  });
  let spark: Record<string, number> = {};
  if (!quick) {
    log('Spark job (pre-filled topic into both sinks)');
    spark = sparkRun(N.sparkEvents, Math.round(N.sparkEvents / 4), { REALTIME: '1' });
  }

  // Issue 14: the Spark stage on a Spark standalone cluster of 1, then 2 workers (spark-submit).
  log(`Spark job on a standalone cluster: 1 worker, then 2 (${N.clusterEvents} events, 4 tables)`);
  const cl = tsx('bench/spark-cluster.ts', [String(N.clusterEvents), '4', '4', '4']);
  const cluster = lastJson<{
    oneWorker: { eventsPerSecond: number };
    twoWorkers: { eventsPerSecond: number };
    twoVsOneWorker: number;
  }>(cl.stdout);
  if (!cluster) log(`cluster benchmark failed: ${cl.stderr.slice(-1500)}`);

  log(
    `Kafka Connect MongoDB sink baseline vs the Spark job into MongoDB only (${N.connectEvents} events; ${N.connectSeconds} s at 1,000/s; ${N.connectDrainPairs} drain and ${N.connectPairs} latency pairs)`,
  );
  const cb = tsx('bench/connect-baseline.ts', [
    '--events',
    String(N.connectEvents),
    '--rate',
    '1000',
    '--seconds',
    String(N.connectSeconds),
    '--pairs',
    String(N.connectPairs),
    '--drain-pairs',
    String(N.connectDrainPairs),
  ]);
  const connect = lastJson<ConnectBaseline>(cb.stdout);
  if (!connect) log(`Connect baseline failed: ${cb.stderr.slice(-1500)}`);
  let connectLong: ConnectBaseline | null = null;
  if (N.connectLongEvents) {
    log(`Kafka Connect vs the Spark job: one drain pair of a ${N.connectLongEvents}-event backlog`);
    const cl = tsx('bench/connect-baseline.ts', [
      '--only',
      'drain',
      '--events',
      String(N.connectLongEvents),
      '--drain-pairs',
      '1',
    ]);
    connectLong = lastJson<ConnectBaseline>(cl.stdout);
    if (!connectLong) log(`long Connect drain failed: ${cl.stderr.slice(-1500)}`);
  }

  log(`latency probe (outside the job): 1,000 and 5,000 row changes/s offered, ${N.probeSeconds} s each`);
  const pr = tsx('bench/latency-probe.ts', ['--rates', '1000,5000', '--seconds', String(N.probeSeconds)]);
  const probe = lastJson<Probe>(pr.stdout);
  if (!probe) log(`latency probe failed: ${pr.stderr.slice(-1500)}`);

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

  const sparkRate = Number(spark.drainEventsPerSecond ?? NaN);
  const drain = Number(capture.drainEventsPerSecond ?? NaN);
  const ratio = (a: number | null | undefined, b: number | null | undefined, digits = 3): number | null =>
    a && b && Number.isFinite(a) && Number.isFinite(b) ? +(a / b).toFixed(digits) : null;
  const slowestSinkRaw = Math.min(raw.mongoBulkInsertDocsPerSecond, raw.redisPipelinedHsetPerSecond);
  const sparkMongoOnly = connect?.drain?.spark?.eventsPerSecond ?? null;
  // Applied ÷ committed; runs from before `committed` was measured fall back to changelog ids.
  const flatWritten = e2e
    ? (e2e.flatOut.rowChangesPerSecond.committed ?? e2e.flatOut.rowChangesPerSecond.writes)
    : null;
  const flatApplied = e2e ? ratio(e2e.flatOut.rowChangesPerSecond.spark, flatWritten) : null;
  const flatAppliedVsIds = e2e
    ? ratio(e2e.flatOut.rowChangesPerSecond.spark, e2e.flatOut.rowChangesPerSecond.writes)
    : null;
  const ratios = {
    triggerWriteOverhead: ratio(capture.rowsPerSecondWithTriggers, capture.rowsPerSecondWithoutTriggers, 2),
    binlogWriteOverhead: ratio(
      capture.rowsPerSecondWithBinlogCapture,
      capture.rowsPerSecondWithoutTriggers,
      2,
    ),
    relayDrainVsKafkaRaw: ratio(drain, raw.kafkaProduceMessagesPerSecond),
    sparkVsSlowestSinkRaw: ratio(sparkRate, slowestSinkRaw),
    sparkRedisOnlyVsEvalshaRaw: ratio(sparkRedis.drainEventsPerSecond, raw.redisEvalshaPipelinedPerSecond),
    sparkMongoOnlyVsGuardedRaw: ratio(sparkMongoOnly, raw.mongoGuardedBulkWriteDocsPerSecond),
    snapshotVsMariadbRaw: ratio(
      e2e?.initialLoad.snapshotRowsPerSecond,
      raw.mariadbBatchedInsertRowsPerSecond,
    ),
    initialLoadVsSpark: ratio(e2e?.initialLoad.rowsPerSecondEndToEnd, sparkRate),
    initialLoadVsMongoBulkInsertRaw: ratio(
      e2e?.initialLoad.rowsPerSecondEndToEnd,
      raw.mongoBulkInsertDocsPerSecond,
    ),
    verifyVsMongoRaw: ratio(verifyRowsPerSecond, raw.mongoBulkInsertDocsPerSecond),
    flatOutAppliedVsWritten: flatApplied,
    flatOutAppliedWhileWriting: ratio(e2e?.flatOut.rowChangesPerSecond.sparkWhileWriting, flatWritten),
    flatOutAppliedVsChangelogIds: flatAppliedVsIds,
    flatOutVsWritesWithoutTriggers: ratio(
      e2e?.flatOut.sustainedEndToEndPerSecond,
      capture.rowsPerSecondWithoutTriggers,
    ),
  };
  const bottleneck = e2e?.flatOut.bottleneck ?? 'unknown (the end-to-end run failed)';

  // Issue 12's targets, each judged on figures of this run.
  const fmt = (n: number | null | undefined, unit = ''): string =>
    n === null || n === undefined || !Number.isFinite(n) ? '-' : `${n.toLocaleString('en-US')}${unit}`;
  const probeAt = (r: number) => probe?.phases.find((p) => p.offeredRowChangesPerSecond === r);
  const targets: { target: string; met: boolean | null; figure: string }[] = [];
  const judge = (
    target: string,
    value: number | null | undefined,
    ok: (v: number) => boolean,
    figure: string,
  ) =>
    targets.push({
      target,
      met: value === null || value === undefined || !Number.isFinite(value) ? null : ok(value),
      figure,
    });
  judge(
    `Spark stage, ${fmt(N.sparkOneTableEvents)} pre-filled events on one table, into Redis ≥ 25,000 events/s`,
    sparkRedis.drainEventsPerSecond,
    (v) => v >= 25_000,
    `${fmt(sparkRedis.drainEventsPerSecond)} events/s (real-time mode), ${fmt(ratio(sparkRedis.drainEventsPerSecond, 25_000, 2))} of the target, ${fmt(ratios.sparkRedisOnlyVsEvalshaRaw)} of Redis EVALSHA raw; CPU per 1,000 events: job ${fmt(sparkRedisCpu?.job)} ms + Redis ${fmt(sparkRedisCpu?.redis)} ms, which ${cpus().length} cores allow at ${fmt(sparkRedis.cpuBoundEventsPerSecond)} events/s`,
  );
  judge(
    `Spark stage into MongoDB ≥ 0.7 of the server's raw guarded bulk-write rate`,
    ratios.sparkMongoOnlyVsGuardedRaw,
    (v) => v >= 0.7,
    `${fmt(sparkMongoOnly)} events/s (${fmt(connect?.drain?.events)}-event backlog, MongoDB only) ÷ ${fmt(raw.mongoGuardedBulkWriteDocsPerSecond)} docs/s raw = ${fmt(ratios.sparkMongoOnlyVsGuardedRaw)}`,
  );
  const p5 = probeAt(5000);
  const p1 = probeAt(1000);
  judge(
    'commit → Redis p99 < 1 s at 5,000 row changes/s (outside probe)',
    p5?.outsideMs.redis.p99,
    (v) => v < 1000 && (p5?.outsideMs.redis.unseen ?? 0) === 0,
    `p99 ${fmt(p5?.outsideMs.redis.p99)} ms outside, ≤${fmt(p5?.inJobMs.redis.p99)} ms in the job (${fmt(p5?.measuredRowChangesPerSecond)}/s measured, ${fmt(p5?.outsideMs.redis.unseen)} probes unseen)`,
  );
  judge(
    'commit → Redis p50 < 250 ms at 1,000 row changes/s (outside probe)',
    p1?.outsideMs.redis.p50,
    (v) => v < 250,
    `p50 ${fmt(p1?.outsideMs.redis.p50)} ms outside, ≤${fmt(p1?.inJobMs.redis.p50)} ms in the job`,
  );
  const cDrain = connect?.drain?.connect?.eventsPerSecond;
  judge(
    'backlog drain into MongoDB at least as fast as Kafka Connect',
    ratio(sparkMongoOnly, cDrain),
    (v) => v >= 1,
    `syncline ${fmt(sparkMongoOnly)} vs connector ${fmt(cDrain)} events/s (ratio ${fmt(ratio(sparkMongoOnly, cDrain))})`,
  );
  if (N.connectLongEvents) {
    const sLong = connectLong?.drain?.spark?.eventsPerSecond;
    const cLong = connectLong?.drain?.connect?.eventsPerSecond;
    judge(
      `long backlog drain (${fmt(N.connectLongEvents)} events) into MongoDB at least as fast as Kafka Connect`,
      ratio(sLong, cLong),
      (v) => v >= 1,
      `syncline ${fmt(sLong)} vs connector ${fmt(cLong)} events/s, one pair (ratio ${fmt(ratio(sLong, cLong))})`,
    );
  }
  const sP99 = connect?.latency?.spark?.outsideMs.p99;
  const cP99 = connect?.latency?.connect?.outsideMs.p99;
  judge(
    'commit → MongoDB p99 at 1,000 events/s no worse than Kafka Connect',
    sP99 !== undefined && cP99 !== undefined && sP99 !== null && cP99 !== null ? cP99 - sP99 : null,
    (v) => v >= 0,
    `syncline p99 ${fmt(sP99)} ms vs connector ${fmt(cP99)} ms (ratio ${fmt(ratio(sP99, cP99))})`,
  );
  // Judged on what Spark applied while the writers ran: "no longer the stage that falls behind".
  // The rate until all was applied also counts the drain after the writers, when their CPU is free
  // (decision 0094); results from before it are judged on that one.
  const flatWhileWriting = ratios.flatOutAppliedWhileWriting;
  judge(
    'flat out, the pipeline applies ≥ 0.9 of what the source writes, while it writes',
    flatWhileWriting ?? flatApplied,
    (v) => v >= 0.9,
    `while the writers ran ${fmt(e2e?.flatOut.rowChangesPerSecond.sparkWhileWriting)} applied / ${fmt(flatWritten)} committed row changes/s = ${fmt(flatWhileWriting)}; until all was applied (${fmt(e2e?.flatOut.drainedSecondsAfterWriters)} s after the writers) ${fmt(e2e?.flatOut.rowChangesPerSecond.spark)}/s = ${fmt(flatApplied)}; ÷ the ${fmt(e2e?.flatOut.rowChangesPerSecond.writes)} changelog ids used, rolled-back transactions included, ${fmt(flatAppliedVsIds)}`,
  );
  const loadTarget = Math.min(4 * 2725, 0.8 * raw.mongoBulkInsertDocsPerSecond);
  judge(
    `initial load ≥ min(4 × 2,725, 0.8 × stand-in bulk inserts) = ${fmt(Math.round(loadTarget))} rows/s`,
    e2e?.initialLoad.rowsPerSecondEndToEnd,
    (v) => v >= loadTarget,
    `${fmt(e2e?.initialLoad.rowsPerSecondEndToEnd)} rows/s over ${fmt(e2e?.seededRows)} rows, ${fmt(ratios.initialLoadVsMongoBulkInsertRaw)} of the stand-in's raw bulk inserts, ${fmt(ratio(e2e?.initialLoad.rowsPerSecondEndToEnd, 2725, 2))}× the 2,725 rows/s baseline`,
  );

  const result = {
    at: started.toISOString(),
    quick,
    sizes: N,
    machine,
    raw,
    capture,
    spark,
    sparkRedisOnly: sparkRedis,
    sparkRedisOnlyMicroBatch: sparkRedisMicroBatch,
    sparkCluster: cluster,
    connect,
    connectLong,
    probe,
    e2e,
    ratios,
    targets,
    bottleneck,
    wallSeconds: Math.round((Date.now() - started.getTime()) / 1000),
  };
  const lat = (l: Latency | undefined): string =>
    l && l.samples > 0 ? `≤${fmt(l.p50)} / ≤${fmt(l.p95)} / ≤${fmt(l.p99)} ms` : '-';
  const out = (l: OutsideLatency | undefined): string =>
    l && l.p50 !== null ? `${fmt(l.p50)} / ${fmt(l.p95)} / ${fmt(l.p99)} ms` : '-';
  const phases = (d: DrainSide | undefined): string =>
    d?.createsPerSecond ? `${fmt(d.createsPerSecond)} / ${fmt(d.restPerSecond)}` : '-';
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
    `| MongoDB stand-in guarded bulk writes, 500 guarded upserts per bulk on ${fmt(N.guardedDocs)} docs (raw) | ${fmt(raw.mongoGuardedBulkWriteDocsPerSecond)} docs/s | |`,
    `| Redis pipelined HSET (raw) | ${fmt(raw.redisPipelinedHsetPerSecond)} ops/s | |`,
    `| Redis pipelined EVALSHA of the job's write script (raw) | ${fmt(raw.redisEvalshaPipelinedPerSecond)} ops/s | |`,
    `| single-row inserts without capture / with triggers / with triggers and the relay running / with the binlog reader running (4 connections) | ${fmt(capture.rowsPerSecondWithoutTriggers)} / ${fmt(capture.rowsPerSecondWithTriggers)} / ${fmt(capture.rowsPerSecondWithTriggersAndRelay)} / ${fmt(capture.rowsPerSecondWithBinlogCapture)} rows/s | ÷ without: triggers ${fmt(ratios.triggerWriteOverhead)}, triggers + relay ${fmt(ratio(capture.rowsPerSecondWithTriggersAndRelay, capture.rowsPerSecondWithoutTriggers, 2))}, binlog ${fmt(ratios.binlogWriteOverhead)} |`,
    `| single-row updates, the same four ways | ${fmt(capture.updatesPerSecondWithoutTriggers)} / ${fmt(capture.updatesPerSecondWithTriggers)} / ${fmt(capture.updatesPerSecondWithTriggersAndRelay)} / ${fmt(capture.updatesPerSecondWithBinlogCapture)} rows/s | |`,
    `| capture into Kafka: relay (changelog backlog) / binlog reader (binlog backlog) | ${fmt(drain)} / ${fmt(capture.binlogEventsPerSecond)} events/s | ÷ Kafka raw = ${fmt(ratios.relayDrainVsKafkaRaw)} / ${fmt(ratio(capture.binlogEventsPerSecond, raw.kafkaProduceMessagesPerSecond))} |`,
    `| Spark job into Redis only (${fmt(N.sparkOneTableEvents)} pre-filled events, one table), real-time mode / micro-batch | ${fmt(sparkRedis.drainEventsPerSecond)} / ${fmt(sparkRedisMicroBatch.drainEventsPerSecond)} events/s (micro-batch p50 ${fmt(sparkRedisMicroBatch.batchMsP50)} ms, p99 ${fmt(sparkRedisMicroBatch.batchMsP99)} ms) | real-time ÷ EVALSHA raw = ${fmt(ratios.sparkRedisOnlyVsEvalshaRaw)} |`,
    ...(quick
      ? []
      : [
          `| Spark job into MongoDB + Redis (pre-filled topic, real-time mode) | ${fmt(sparkRate)} events/s | ÷ slowest sink raw = ${fmt(ratios.sparkVsSlowestSinkRaw)} |`,
        ]),
    `| Spark job on a standalone cluster (spark-submit, ${fmt(N.clusterEvents)} pre-filled events, 4 tables, both sinks, micro-batch): 1 worker / 2 workers | ${fmt(cluster?.oneWorker.eventsPerSecond)} / ${fmt(cluster?.twoWorkers.eventsPerSecond)} events/s | 2 ÷ 1 workers = ${fmt(cluster?.twoVsOneWorker)} (on ${cpus().length} cores) |`,
    `| backlog drain into MongoDB only (${fmt(connect?.drain?.events)} pre-filled events, one table; median of ${N.connectDrainPairs} interleaved pairs): syncline Spark job / Kafka Connect sink | ${fmt(sparkMongoOnly)} / ${fmt(cDrain)} events/s | Spark ÷ guarded raw = ${fmt(ratios.sparkMongoOnlyVsGuardedRaw)}; Spark ÷ Connect = ${fmt(ratio(sparkMongoOnly, cDrain))} |`,
    ...(connectLong
      ? [
          `| long backlog drain into MongoDB only (${fmt(connectLong.drain?.events)} pre-filled events, one pair): syncline Spark job / Kafka Connect sink | ${fmt(connectLong.drain?.spark?.eventsPerSecond)} / ${fmt(connectLong.drain?.connect?.eventsPerSecond)} events/s | Spark ÷ Connect = ${fmt(ratio(connectLong.drain?.spark?.eventsPerSecond, connectLong.drain?.connect?.eventsPerSecond))}; creates / the rest: ${phases(connectLong.drain?.spark)} against ${phases(connectLong.drain?.connect)} events/s |`,
        ]
      : []),
    `| 1,000 events/s offered (${fmt(N.connectSeconds)} s × ${N.connectPairs} interleaved pairs, all probes, polled every ${fmt(connect?.latency?.probePollMs ?? 20)} ms), commit → MongoDB p50 / p95 / p99 from outside: syncline; Kafka Connect | ${out(connect?.latency?.spark?.outsideMs)}; ${out(connect?.latency?.connect?.outsideMs)} | job's own: ${lat(connect?.latency?.spark?.inJobMs)} |`,
    ...(probe?.phases ?? []).map(
      (p) =>
        `| probe: ${fmt(p.offeredRowChangesPerSecond)} row changes/s offered (${fmt(p.measuredRowChangesPerSecond)} measured, ${p.seconds} s), commit → MongoDB; commit → Redis p50 / p95 / p99, outside the job | ${out(p.outsideMs.mongodb)}; ${out(p.outsideMs.redis)} | in the job: ${lat(p.inJobMs.mongodb)}; ${lat(p.inJobMs.redis)}; of which commit → Kafka (capture): ${out(p.outsideMs.kafka)} |`,
    ),
    `| snapshot into the change stream (${fmt(e2e?.seededRows)} rows) | ${fmt(e2e?.initialLoad.snapshotRowsPerSecond)} rows/s | ÷ MariaDB raw = ${fmt(ratios.snapshotVsMariadbRaw)} |`,
    `| initial load end to end (snapshot → Kafka → Spark → both sinks) | ${fmt(e2e?.initialLoad.rowsPerSecondEndToEnd)} rows/s (${fmt(e2e?.initialLoad.seconds)} s) | ÷ stand-in bulk inserts = ${fmt(ratios.initialLoadVsMongoBulkInsertRaw)} |`,
    `| verify (${fmt(e2e?.verify.rows)} rows × 2 sinks, ${fmt(e2e?.verify.differences)} differences) | ${fmt(verifyRowsPerSecond)} rows/s | ÷ MongoDB raw = ${fmt(ratios.verifyVsMongoRaw)} |`,
    ...(e2e?.offeredLoads ?? []).map(
      (l) =>
        `| offered ${fmt(l.offeredRowChangesPerSecond)} row changes/s (measured ${fmt(l.measuredWritesPerSecond)}/s, ${l.seconds} s, ${l.keptUp ? 'kept up' : 'fell behind'}; max lag ${fmt(l.maxLagEvents)}): commit → MongoDB, commit → Redis p50 / p95 / p99 in the job | ${lat(l.latencyMs.mongodb)}; ${lat(l.latencyMs.redis)} | |`,
    ),
    `| writers flat out (8 connections, ${fmt(e2e?.flatOut.seconds)} s): changelog ids used / committed / relay / Spark (Spark until all applied, ${fmt(e2e?.flatOut.drainedSecondsAfterWriters)} s after the writers) | ${fmt(e2e?.flatOut.rowChangesPerSecond.writes)} / ${fmt(flatWritten)} / ${fmt(e2e?.flatOut.rowChangesPerSecond.relay)} / ${fmt(e2e?.flatOut.rowChangesPerSecond.spark)} row changes/s | applied ÷ committed = ${fmt(flatApplied)}; ÷ ids ${fmt(flatAppliedVsIds)}; while the writers ran, Spark applied ${fmt(e2e?.flatOut.rowChangesPerSecond.sparkWhileWriting)}/s = ${fmt(ratios.flatOutAppliedWhileWriting)} of committed |`,
    '',
    `Bottleneck (the first stage that falls behind the one feeding it, writers flat out): **${bottleneck}**.`,
    `CPU cores used per process, writers flat out: ${
      e2e
        ? Object.entries(e2e.flatOut.cpuCoresUsed)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : '-'
    } (of ${machine.cores}).`,
    "In-job latencies are bucket upper bounds of the job's per-event histograms (source commit time → sink acknowledgement); outside latencies are a poller's first sight of the row with its own values, minus the moment its COMMIT (or, for the Connect comparison, its Kafka send) returned.",
    '',
    '## Issue 12 targets',
    '',
    ...targets.map(
      (t) =>
        `- target ${t.target}: **${t.met === null ? 'not measured' : t.met ? 'met' : 'not met'}** (${t.figure})`,
    ),
    '- target lag bounded in `npm run demo` with p50/p99 in its summary: not measured by the bench',
    '- target golden, replay and crash tests and 40 of 40 chaos rounds: not measured by the bench (`npm test`, `npm run test:chaos`)',
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
