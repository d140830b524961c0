// Commit → visible latency measured from outside the pipeline: while `syncline run` runs, insert
// rows into a captured table at a fixed offered rate (10-row transactions over 4 connections),
// and poll MongoDB and Redis for sampled probe rows until each shows the row with its own values.
// One sample = the moment a poll first saw the row − the moment its COMMIT returned. Reported per
// sink (p50/p95/p99) next to the job's own in-job histogram (source commit → sink acknowledgement,
// what `syncline status` shows) over the same window. A consumer of the table's topic also notes
// when each probe's event reached Kafka, which splits the latency into capture (trigger, relay)
// and apply (Spark job, sink) — where the time goes when a target is missed.
//
//   npx tsx bench/latency-probe.ts [--rates 1000,5000] [--seconds 45] [--probes-per-second 50] [--spark "{ checkpointInterval: 5 minutes }"]
//
// The first 5 s of each rate are warm-up and not sampled. Prints progress on stderr and one JSON
// object on stdout. Reports; asserts nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { createPool } from 'mysql2/promise';
import { createClient } from 'redis';
import { loadConfig, type Config } from '../src/config/load.ts';
import { Consumer, stringDeserializers, type Message } from '@platformatic/kafka';
import { connectionOptions } from '../src/kafka/client.ts';
import { connect } from '../src/mysql/connect.ts';
import { quoteId } from '../src/mysql/identifiers.ts';
import { latencySummary, recentProgress, waitForZeroLag } from '../src/observe/status.ts';
import { resolvePipeline } from '../src/pipeline/job.ts';
import { removePipelineData } from '../src/pipeline/remove-data.ts';
import { progressFile, type ResolvedPipeline } from '../src/spark/pipeline-files.ts';
import { PROJECT_ROOT } from '../src/stack/jvm.ts';
import { resolveStackOptions } from '../src/stack/options.ts';
import { stackUp } from '../src/stack/stack.ts';
import { cliArgs } from '../test/support/cli.ts';

const { values: args } = parseArgs({
  options: {
    rates: { type: 'string', default: '1000,5000' },
    seconds: { type: 'string', default: '45' },
    'probes-per-second': { type: 'string', default: '50' },
    'state-dir': { type: 'string', default: '.syncline' },
    // Any spark settings for the run under test, as YAML flow, e.g. "{ checkpointInterval: 5 minutes }".
    spark: { type: 'string' },
  },
});
const RATES = args.rates.split(',').map(Number).filter(Boolean);
const SECONDS = Number(args.seconds);
const PROBES_PER_SECOND = Number(args['probes-per-second']);
const ROWS_PER_TXN = 10;
const CONNECTIONS = 4;
const WARM_MS = 5000;
const log = (line: string) => process.stderr.write(`bench probe: ${line}\n`);

const pct = (sorted: number[], q: number): number | null =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null;
const summary = (samples: number[], unseen: number) => {
  const s = [...samples].sort((a, b) => a - b);
  return { samples: s.length, unseen, p50: pct(s, 0.5), p95: pct(s, 0.95), p99: pct(s, 0.99) };
};

const redisClient = (url: string) => createClient({ url });
type Redis = ReturnType<typeof redisClient>;

interface Probe {
  id: number;
  tag: string;
  committedAt: number;
  kafkaAt?: number;
  mongoAt?: number;
  redisAt?: number;
}

async function phase(
  rate: number,
  ctx: {
    mysqlUrl: string;
    database: string;
    config: Config;
    mongo: MongoClient;
    redis: Redis;
    /** Probe id → when its event was read from Kafka. */
    kafkaSeen: Map<number, number>;
  },
  firstId: number,
) {
  const pool = createPool({ uri: ctx.mysqlUrl, database: ctx.database, connectionLimit: CONNECTIONS });
  const coll = ctx.mongo
    .db(ctx.config.sinks.mongodb.database)
    .collection<{ _id: number; tag: string }>('probe');
  const txnsPerSecond = rate / ROWS_PER_TXN;
  const probeEvery = Math.max(1, Math.round(txnsPerSecond / PROBES_PER_SECOND));
  const pending = new Map<number, Probe>();
  const done: Probe[] = [];
  let nextId = firstId;
  let txns = 0;
  let rows = 0;
  const started = Date.now();
  const endAt = started + SECONDS * 1000;
  let writing = true;

  // Each connection offers its share of the rate on its own schedule.
  const writer = async (w: number) => {
    const conn = await pool.getConnection();
    try {
      for (let i = 0; ; i++) {
        const due = started + ((i * CONNECTIONS + w) * 1000) / txnsPerSecond;
        if (due >= endAt) break;
        if (due > Date.now()) await sleep(due - Date.now());
        const ids = Array.from({ length: ROWS_PER_TXN }, () => nextId++);
        const tags = ids.map(() => randomBytes(6).toString('hex'));
        await conn.query('BEGIN');
        await conn.query(
          `INSERT INTO probe (id, tag, n) VALUES ${ids.map(() => '(?, ?, ?)').join(', ')}`,
          ids.flatMap((id, j) => [id, tags[j], j]),
        );
        await conn.query('COMMIT');
        const committedAt = Date.now();
        txns++;
        rows += ROWS_PER_TXN;
        if (committedAt - started >= WARM_MS && (i * CONNECTIONS + w) % probeEvery === 0) {
          const last = ROWS_PER_TXN - 1;
          pending.set(ids[last]!, { id: ids[last]!, tag: tags[last]!, committedAt });
        }
      }
    } finally {
      conn.release();
    }
  };

  // Each sink polled on its own every 50 ms for the pending probes, so a slow answer from one
  // sink never delays the moment a row is seen in the other; a row counts as visible only with
  // the values its transaction wrote.
  const poll = async (
    seenAt: 'mongoAt' | 'redisAt',
    tagsOf: (want: Probe[]) => Promise<Map<number, string | null>>,
  ) => {
    for (;;) {
      const want = [...pending.values()].filter((p) => p[seenAt] === undefined);
      if (!writing && !want.length) break;
      if (want.length) {
        const tags = await tagsOf(want);
        const now = Date.now();
        for (const p of want) if (tags.get(p.id) === p.tag) p[seenAt] = now;
        for (const p of want)
          if (p.mongoAt !== undefined && p.redisAt !== undefined) {
            pending.delete(p.id);
            done.push(p);
          }
        // Give up on what has not shown after 2 minutes: it is reported as unseen.
        if (!writing && want.every((p) => now - p.committedAt > 120_000)) break;
      }
      await sleep(50);
    }
  };
  const pollers = Promise.all([
    poll('mongoAt', async (want) => {
      const docs = await coll
        .find({ _id: { $in: want.map((p) => p.id) } }, { projection: { tag: 1 } })
        .toArray();
      return new Map(docs.map((d) => [Number(d._id), d.tag]));
    }),
    poll('redisAt', async (want) => {
      const multi = ctx.redis.multi();
      for (const p of want) multi.hGet(`${ctx.database}:probe:${p.id}`, 'tag');
      const tags = (await multi.execAsPipeline()) as unknown as (string | null)[];
      return new Map(want.map((p, i) => [p.id, tags[i] ?? null]));
    }),
  ]);
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, w) => writer(w)));
  const wroteMs = Date.now() - started;
  writing = false;
  await pollers;
  await pool.end();
  const all = [...done, ...pending.values()];
  for (const p of all) p.kafkaAt = ctx.kafkaSeen.get(p.id);
  const kafkaMs = all.filter((p) => p.kafkaAt !== undefined).map((p) => p.kafkaAt! - p.committedAt);
  const mongoMs = all.filter((p) => p.mongoAt !== undefined).map((p) => p.mongoAt! - p.committedAt);
  const redisMs = all.filter((p) => p.redisAt !== undefined).map((p) => p.redisAt! - p.committedAt);
  return {
    result: {
      offeredRowChangesPerSecond: rate,
      measuredRowChangesPerSecond: Math.round((rows * 1000) / wroteMs),
      transactions: txns,
      seconds: +(wroteMs / 1000).toFixed(1),
      outsideMs: {
        mongodb: summary(mongoMs, all.length - mongoMs.length),
        redis: summary(redisMs, all.length - redisMs.length),
        // Commit → read from the topic: the capture's share of the latencies above.
        kafka: summary(kafkaMs, all.length - kafkaMs.length),
      },
    },
    window: { from: started + WARM_MS, to: Date.now() },
    nextId,
  };
}

/** The job's own commit → sink histogram over the batches that started in the window. */
function inJob(config: Config, from: number, to: number) {
  const batches = recentProgress(progressFile(config), Number.MAX_SAFE_INTEGER).filter((b) => {
    const at = Date.parse(b.timestamp);
    return at >= from && at <= to;
  });
  const windows = batches.flatMap((b) => Object.values(b.tables ?? {}) as Record<string, unknown>[]);
  return { mongodb: latencySummary(windows, 'mongodb'), redis: latencySummary(windows, 'redis') };
}

async function main(): Promise<void> {
  const stackOpts = resolveStackOptions({ stateDir: args['state-dir'] });
  const up = await stackUp(stackOpts);
  const database = `bench_probe_${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'syncline-probe-'));
  const configFile = join(dir, 'syncline.yaml');
  writeFileSync(
    configFile,
    [
      `source: { database: ${database}, tables: "*" }`,
      `kafka: { topicPrefix: probe${process.pid} }`,
      ...(args.spark ? [`spark: ${args.spark}`] : []),
      'tables:',
      '  probe: { redis: { key: "{db}:{table}:{key}" } }',
      '',
    ].join('\n'),
  );
  const config = loadConfig({ configPath: configFile, stateDir: stackOpts.stateDir });
  const conn = await connect({ url: up.urls.mysql });
  await conn.query(`CREATE DATABASE ${quoteId(database)}`);
  await conn.query(
    `CREATE TABLE ${quoteId(database)}.probe (id INT PRIMARY KEY, tag VARCHAR(20) NOT NULL, n INT NOT NULL)`,
  );
  const mongo = new MongoClient(config.sinks.mongodb.url);
  const redis = redisClient(config.sinks.redis.url);
  await mongo.connect();
  await redis.connect();
  let run: ChildProcess | null = null;
  let kafkaWatch: Consumer<string, string, string, string> | null = null;
  const phases: unknown[] = [];
  try {
    run = spawn(
      process.execPath,
      cliArgs(configFile, stackOpts.stateDir, ['run', '--skip-check', '--metrics-port', '0']),
      { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let runLog = '';
    run.stderr!.on('data', (c: Buffer) => (runLog = (runLog + c.toString()).slice(-20_000)));
    await conn.query(`USE ${quoteId(database)}`);
    let p: ResolvedPipeline | null = null;
    for (let i = 0; i < 600 && !p; i++) {
      await sleep(500);
      if (run.exitCode !== null)
        throw new Error(`syncline run exited (${run.exitCode}):\n${runLog.slice(-2000)}`);
      if (/relay and Spark job started/.test(runLog)) p = await resolvePipeline(config, conn);
    }
    if (!p) throw new Error('syncline run did not start its children within 5 minutes');
    // A few rows first, so the job has planned and warmed up before anything is measured.
    await conn.query(
      `INSERT INTO probe VALUES ${Array.from({ length: 100 }, (_, i) => `(${i + 1}, 'warm', 0)`).join(',')}`,
    );
    await waitForZeroLag(config, conn, p, 300_000);
    const kafkaSeen = new Map<number, number>();
    const topic = p.job.tables.find((t) => t.table === 'probe')!.topic;
    kafkaWatch = new Consumer({
      ...connectionOptions(config.kafka, '-probe'),
      groupId: `syncline-probe-${process.pid}`,
      deserializers: stringDeserializers,
    });
    const stream = await kafkaWatch.consume({
      topics: [topic],
      mode: 'latest',
      autocommit: false,
      maxWaitTime: 20,
    });
    void (async () => {
      for await (const m of stream as AsyncIterable<Message<string, string, string, string>>) {
        const id = (JSON.parse(m.key) as { id?: number }).id;
        if (typeof id === 'number' && !kafkaSeen.has(id)) kafkaSeen.set(id, Date.now());
      }
    })().catch(() => undefined);
    let nextId = 1000;
    for (const rate of RATES) {
      log(`offering ${rate} row changes/s for ${SECONDS} s`);
      const r = await phase(
        rate,
        { mysqlUrl: up.urls.mysql, database, config, mongo, redis, kafkaSeen },
        nextId,
      );
      nextId = r.nextId;
      const res = { ...r.result, inJobMs: inJob(config, r.window.from, r.window.to) };
      log(JSON.stringify(res));
      phases.push(res);
      await waitForZeroLag(config, conn, p, 300_000).catch(() =>
        log('the pipeline did not drain within 5 minutes'),
      );
    }
  } finally {
    if (kafkaWatch) await new Promise<void>((r) => kafkaWatch!.close(true, () => r()));
    if (run && run.exitCode === null) {
      const exited = new Promise((r) => run!.once('exit', r));
      run.kill('SIGTERM');
      await Promise.race([exited, sleep(60_000)]);
      if (run.exitCode === null) run.kill('SIGKILL');
    }
    await conn.end();
    await redis.close();
    await mongo.close();
    await removePipelineData(config, { dropSource: true }).catch((err: Error) =>
      log(`cleanup: ${err.message}`),
    );
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify({ rates: RATES, seconds: SECONDS, phases }, null, 2)}\n`);
}

await main();
process.exit(0);
