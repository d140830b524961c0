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
  demoRows: quick ? 20_000 : 1_000_000,
  demoSeconds: quick ? 30 : 180,
  demoRate: quick ? 200 : 1000,
};

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

/** CPU seconds used so far by each process whose command line matches, from /proc. */
function cpuSeconds(match: RegExp): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (!match.test(cmd)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      // the process ended while we looked
    }
  }
  return ticks / 100;
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

  log(`end to end (demo: ${N.demoRows} rows, ${N.demoRate} tx/s for ${N.demoSeconds} s)`);
  const cpu0 = {
    mariadb: cpuSeconds(/mariadbd/),
    kafka: cpuSeconds(/kafka\.Kafka/),
    mongo: cpuSeconds(/MongoStandin/),
    redis: cpuSeconds(/redis-server/),
  };
  const t0 = performance.now();
  const demo = tsx('src/cli/main.ts', [
    'demo',
    '--database',
    'bench_e2e',
    '--rows',
    String(N.demoRows),
    '--seconds',
    String(N.demoSeconds),
    '--rate',
    String(N.demoRate),
  ]);
  const demoSeconds = (performance.now() - t0) / 1000;
  const cpu = {
    mariadb: cpuSeconds(/mariadbd/) - cpu0.mariadb,
    kafka: cpuSeconds(/kafka\.Kafka/) - cpu0.kafka,
    mongo: cpuSeconds(/MongoStandin/) - cpu0.mongo,
    redis: cpuSeconds(/redis-server/) - cpu0.redis,
  };
  const out = demo.stdout;
  const num = (re: RegExp) => Number((re.exec(out)?.[1] ?? 'NaN').replace(/,/g, ''));
  const e2e = {
    initialLoadRowsPerSecond: num(/\(([\d,]+) rows\/s end to end\)/),
    liveRowChanges: num(/→ ([\d,]+) row changes captured/),
    verifyRows: num(/checked ([\d,]+) rows in/),
    verifySeconds: num(/rows in ([\d.]+) s\n/),
    inSync: /RESULT: MySQL, MongoDB and Redis are in sync/.test(out),
    latencies: [
      ...out.matchAll(
        / {4}(\w+): commit→MongoDB p50 ≤(\d+) ms p99 ≤(\d+) ms; commit→Redis p50 ≤(\d+) ms p99 ≤(\d+) ms/g,
      ),
    ].map((m) => ({
      table: m[1],
      mongoP50: Number(m[2]),
      mongoP99: Number(m[3]),
      redisP50: Number(m[4]),
      redisP99: Number(m[5]),
    })),
    wallSeconds: demoSeconds,
    cpuSecondsOfServices: cpu,
  };
  const verifyRowsPerSecond = e2e.verifySeconds > 0 ? Math.round(e2e.verifyRows / e2e.verifySeconds) : null;

  const sparkRate = Number(spark.steadyEventsPerSecond ?? NaN);
  const drain = Number((capture as Record<string, number>).drainEventsPerSecond ?? NaN);
  const stages: [string, number][] = [
    ['relay drain (events/s)', drain],
    ['Spark job into both sinks (events/s)', sparkRate],
    ['initial load end to end (rows/s)', e2e.initialLoadRowsPerSecond],
  ];
  const bottleneck =
    stages.filter(([, v]) => Number.isFinite(v)).sort((a, b) => a[1] - b[1])[0]?.[0] ?? 'unknown';
  const ratios = {
    triggerWriteOverhead:
      capture.rowsPerSecondWithTriggers && capture.rowsPerSecondWithoutTriggers
        ? +(Number(capture.rowsPerSecondWithTriggers) / Number(capture.rowsPerSecondWithoutTriggers)).toFixed(
            2,
          )
        : null,
    relayDrainVsKafkaRaw: +(drain / raw.kafkaProduceMessagesPerSecond).toFixed(3),
    sparkVsSlowestSinkRaw: +(
      sparkRate / Math.min(raw.mongoBulkInsertDocsPerSecond, raw.redisPipelinedHsetPerSecond)
    ).toFixed(3),
  };
  const result = {
    at: started.toISOString(),
    quick,
    sizes: N,
    machine,
    raw,
    capture,
    spark,
    e2e: { ...e2e, verifyRowsPerSecond },
    ratios,
    bottleneck,
  };
  const md = [
    `# syncline benchmark ${started.toISOString()}${quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB; ${machine.node}; ${machine.java}; ${machine.mariadb}; ${machine.redis}.`,
    '',
    '| figure | value | ratio |',
    '| --- | --- | --- |',
    `| MariaDB batched inserts, no triggers (raw) | ${raw.mariadbBatchedInsertRowsPerSecond.toLocaleString('en-US')} rows/s | |`,
    `| Kafka produce, ${ENVELOPE.length}-byte envelopes (raw) | ${raw.kafkaProduceMessagesPerSecond.toLocaleString('en-US')} msg/s | |`,
    `| MongoDB stand-in bulk inserts (raw) | ${raw.mongoBulkInsertDocsPerSecond.toLocaleString('en-US')} docs/s | |`,
    `| Redis pipelined HSET (raw) | ${raw.redisPipelinedHsetPerSecond.toLocaleString('en-US')} ops/s | |`,
    `| writes without / with triggers (4 connections) | ${capture.rowsPerSecondWithoutTriggers} / ${capture.rowsPerSecondWithTriggers} rows/s | with ÷ without = ${ratios.triggerWriteOverhead} |`,
    `| relay drain into Kafka | ${drain.toLocaleString('en-US')} events/s | ÷ Kafka raw = ${ratios.relayDrainVsKafkaRaw} |`,
    `| Spark job into MongoDB + Redis | ${sparkRate.toLocaleString('en-US')} events/s (batch p50 ${spark.batchMsP50} ms, p99 ${spark.batchMsP99} ms) | ÷ slowest sink raw = ${ratios.sparkVsSlowestSinkRaw} |`,
    `| initial load end to end (snapshot → Kafka → Spark → sinks) | ${e2e.initialLoadRowsPerSecond.toLocaleString('en-US')} rows/s | |`,
    `| verify | ${verifyRowsPerSecond?.toLocaleString('en-US') ?? '-'} rows/s | |`,
    `| live: ${N.demoRate} tx/s offered for ${N.demoSeconds} s | ${e2e.liveRowChanges.toLocaleString('en-US')} row changes, ${e2e.inSync ? 'in sync' : 'NOT in sync'} | |`,
    ...e2e.latencies.map(
      (l) =>
        `| commit → MongoDB / Redis, ${l.table} (p50 / p99, bucket bounds) | ≤${l.mongoP50} / ≤${l.mongoP99} ms; ≤${l.redisP50} / ≤${l.redisP99} ms | |`,
    ),
    '',
    `Bottleneck (lowest rate of the pipeline's stages): **${bottleneck}**.`,
    `CPU seconds of the services during the end-to-end run: MariaDB ${cpu.mariadb.toFixed(0)}, Kafka ${cpu.kafka.toFixed(0)}, MongoDB stand-in ${cpu.mongo.toFixed(0)}, Redis ${cpu.redis.toFixed(0)} (of ${(demoSeconds * machine.cores).toFixed(0)} available).`,
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
