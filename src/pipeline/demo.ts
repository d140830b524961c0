// `syncline demo` (= `npm run demo`): from nothing to a live, verified pipeline on the local
// stack. Stack up, demo schema and seed, `run` (snapshot + live capture), a live workload with a
// status line, then verify and a closing summary.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { createClient, type RedisClientType } from 'redis';
import { resolveConfig, type Config } from '../config/load.ts';
import { createAdmin } from '../kafka/client.ts';
import { registerSecret } from '../config/redact.ts';
import { connect, connectSource } from '../mysql/connect.ts';
import { DEMO_TABLES } from '../mysql/demo/schema.ts';
import { createDemoSchema, seedDemo } from '../mysql/demo/seed.ts';
import { runWorkload } from '../mysql/demo/workload.ts';
import { quoteId } from '../mysql/identifiers.ts';
import { SOURCE_PRIVILEGES } from '../mysql/privileges.ts';
import { endOffsets } from '../observe/lag.ts';
import { pipelineStatus, totalLag, waitForZeroLag, type PipelineStatus } from '../observe/status.ts';
import { resolveStackOptions } from '../stack/options.ts';
import { stackUp } from '../stack/stack.ts';
import { formatReports, inSync, verify } from '../verify/verify.ts';
import { pipelineName, type ResolvedPipeline } from './job.ts';
import { runPipeline, type RunOptions } from './run.ts';

export interface DemoOptions {
  stateDir: string;
  database: string;
  rows: number;
  seed: number;
  /** Live workload: seconds and transactions per second (each transaction changes 1–6 rows). */
  seconds: number;
  rate: number;
  connections: number;
  cli: RunOptions['cli'];
  out?: NodeJS.WriteStream;
}

const say = (out: NodeJS.WriteStream, line: string) => out.write(`${line}\n`);

/** The MySQL user the demo's pipeline runs as: only the documented privileges, never root. */
export const DEMO_USER = 'syncline_demo';

/**
 * Creates (or resets) the demo's least-privilege user with a fresh random password, kept in a
 * 0600 file in the state dir that the configuration reads (`source.passwordFile`). Returns the
 * source URL (no password in it) and the file.
 */
async function createDemoUser(
  rootUrl: string,
  database: string,
  stateDir: string,
): Promise<{ url: string; passwordFile: string }> {
  const password = randomBytes(18).toString('base64url');
  registerSecret(password);
  const passwordFile = join(resolve(stateDir), 'demo', 'mysql-password');
  mkdirSync(dirname(passwordFile), { recursive: true, mode: 0o700 });
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const root = await connect({ url: rootUrl });
  try {
    // The stack's clients arrive over TCP from 127.0.0.1.
    await root.query(`CREATE USER IF NOT EXISTS ?@'127.0.0.1'`, [DEMO_USER]);
    await root.query(`ALTER USER ?@'127.0.0.1' IDENTIFIED BY ?`, [DEMO_USER, password]);
    await root.query(`GRANT ${SOURCE_PRIVILEGES.join(', ')} ON ${quoteId(database)}.* TO ?@'127.0.0.1'`, [
      DEMO_USER,
    ]);
  } finally {
    await root.end();
  }
  const url = new URL(rootUrl);
  url.username = DEMO_USER;
  url.password = '';
  return { url: url.toString().replace(/\/$/, ''), passwordFile };
}

/** Removes what an earlier demo left in the sinks, Kafka and the state dir, so verify starts clean. */
async function resetDemo(config: Config): Promise<void> {
  const mongo = new MongoClient(config.sinks.mongodb.url);
  await mongo.connect();
  await mongo.db(config.sinks.mongodb.database).dropDatabase();
  await mongo.close();
  const redis = createClient({ url: config.sinks.redis.url }) as RedisClientType;
  await redis.connect();
  for (const pattern of DEMO_TABLES.flatMap((t) => [`${t}:*`, `syncline:tomb:{${t}:*`])) {
    for await (const keys of redis.scanIterator({ MATCH: pattern, COUNT: 1000 }))
      if ((keys as string[]).length) await redis.del(keys as string[]);
  }
  await redis.close();
  const admin = createAdmin(config.kafka);
  try {
    const topics = (await admin.listTopics()).filter(
      (t) =>
        t.startsWith(`${config.kafka.topicPrefix}.${config.source.database}.`) ||
        t === `${config.kafka.topicPrefix}.dlq`,
    );
    if (topics.length > 0) {
      await admin.deleteTopics({ topics });
      // Deletion is asynchronous: a topic recreated before it is gone keeps its old messages.
      for (let i = 0; i < 60; i++) {
        const left = (await admin.listTopics()).filter((t) => topics.includes(t));
        if (left.length === 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await admin.close();
  }
  rmSync(join(resolve(config.spark.checkpointDir), pipelineName(config)), { recursive: true, force: true });
  rmSync(join(resolve(config.stateDir), 'spark', `${pipelineName(config)}.progress.jsonl`), { force: true });
}

async function kafkaMessages(config: Config, pipeline: ResolvedPipeline): Promise<bigint> {
  const ends = await endOffsets(
    config.kafka,
    pipeline.job.tables.map((t) => t.topic),
  );
  let total = 0n;
  for (const list of ends.values()) for (const e of list) total += e;
  return total;
}

function statusLine(s: PipelineStatus, eventsPerSecond: number): string {
  const lag = totalLag(s);
  let p50 = 0;
  let p99 = 0;
  for (const t of s.tables) {
    p50 = Math.max(p50, t.latencyMs.redis.p50 ?? 0);
    p99 = Math.max(p99, t.latencyMs.redis.p99 ?? 0);
  }
  return `live: ${Math.round(eventsPerSecond)} events/s into Kafka | changelog backlog ${lag.backlog} | Spark lag ${lag.kafka} | commit→Redis p50 ≤${p50} ms, p99 ≤${p99} ms`;
}

export async function runDemo(options: DemoOptions): Promise<boolean> {
  const out = options.out ?? process.stdout;
  say(out, '1/6 local stack: MariaDB, Kafka, MongoDB stand-in, Redis');
  const up = await stackUp(resolveStackOptions({ stateDir: options.stateDir }), (line) =>
    say(out, `    ${line}`),
  );
  const user = await createDemoUser(up.urls.mysql, options.database, options.stateDir);
  const config = resolveConfig(
    {
      source: { ...user, database: options.database, tables: '*' },
      spark: { triggerInterval: '1 second' },
    },
    { stateDir: options.stateDir },
  );

  say(
    out,
    `2/6 demo schema and ${options.rows.toLocaleString('en-US')} rows in ${options.database} (seed ${options.seed})`,
  );
  say(
    out,
    `    syncline runs as MySQL user ${DEMO_USER} with only ${SOURCE_PRIVILEGES.join(', ')} on ${options.database}.* (password in ${user.passwordFile}); the workload writes as root, like an application`,
  );
  await resetDemo(config);
  const conn: Connection = await connect({ url: up.urls.mysql });
  let seeded = 0;
  try {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(options.database)}`);
    await createDemoSchema(conn, options.database, { reset: true });
    const t0 = performance.now();
    const counts = await seedDemo(conn, options.database, options.rows, options.seed);
    seeded = Object.values(counts).reduce((a, b) => a + Number(b), 0);
    say(
      out,
      `    seeded ${seeded.toLocaleString('en-US')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  } finally {
    await conn.end();
  }

  say(out, '3/6 syncline run: capture triggers, snapshot through Kafka and Spark into MongoDB and Redis');
  const abort = new AbortController();
  let pipeline: ResolvedPipeline | null = null;
  let running: Promise<void> = Promise.resolve();
  const started = new Promise<void>((resolveStarted) => {
    running = runPipeline(config, {
      cli: options.cli,
      signal: abort.signal,
      log: (line) => say(out, `    ${line}`),
      onStarted: (info) => {
        pipeline = info.pipeline;
        resolveStarted();
      },
    }).catch((err: Error) => {
      say(out, `    run failed: ${err.message}`);
      abort.abort();
      resolveStarted();
    });
  });
  await started;
  if (!pipeline) return false;
  const p: ResolvedPipeline = pipeline;
  const watch = await connectSource(config);
  const mongo = new MongoClient(config.sinks.mongodb.url, { useBigInt64: true });
  const redis = createClient({ url: config.sinks.redis.url }) as RedisClientType;
  try {
    const t0 = performance.now();
    await waitForZeroLag(config, watch, p, 1_800_000, (line) => say(out, `    ${line}`));
    const loadSeconds = (performance.now() - t0) / 1000;
    say(
      out,
      `    initial load done: ${seeded.toLocaleString('en-US')} rows in ${loadSeconds.toFixed(1)} s (${Math.round(seeded / loadSeconds).toLocaleString('en-US')} rows/s end to end)`,
    );

    say(
      out,
      `4/6 live workload: ${options.connections} connections, ${options.rate} transactions/s for ${options.seconds} s`,
    );
    const before = await kafkaMessages(config, p);
    let last = before;
    let lastAt = performance.now();
    const ticker = setInterval(() => {
      void (async () => {
        const now = await kafkaMessages(config, p);
        const at = performance.now();
        const rate = Number(now - last) / ((at - lastAt) / 1000);
        last = now;
        lastAt = at;
        say(out, `    ${statusLine(await pipelineStatus(config, watch, p), rate)}`);
      })().catch(() => undefined);
    }, 5000);
    const work = await runWorkload({
      target: { url: up.urls.mysql },
      database: options.database,
      ratePerSecond: options.rate,
      connections: options.connections,
      durationMs: options.seconds * 1000,
      seed: options.seed + 1,
    });
    clearInterval(ticker);
    await waitForZeroLag(config, watch, p, 600_000, (line) => say(out, `    ${line}`));
    const live = (await kafkaMessages(config, p)) - before;
    say(
      out,
      `    ${work.transactions.toLocaleString('en-US')} transactions → ${live.toLocaleString('en-US')} row changes captured, all applied`,
    );

    say(out, '5/6 verify: every MySQL row against MongoDB and Redis');
    await mongo.connect();
    await redis.connect();
    const t1 = performance.now();
    const reports = await verify({ mysql: watch, mongo, redis }, p.job, p.tables);
    const rows = reports.reduce((a, r) => a + r.rows, 0);
    say(out, formatReports(reports).replace(/^/gm, '    '));
    say(
      out,
      `    checked ${rows.toLocaleString('en-US')} rows in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );
    const status = await pipelineStatus(config, watch, p);

    say(out, '6/6 summary');
    say(
      out,
      `    seeded rows: ${seeded.toLocaleString('en-US')}; live row changes: ${live.toLocaleString('en-US')}`,
    );
    for (const t of status.tables) {
      const r = t.latencyMs.redis;
      const m = t.latencyMs.mongodb;
      if (r.samples + m.samples > 0)
        say(
          out,
          `    ${t.table}: commit→MongoDB p50 ≤${m.p50} ms p99 ≤${m.p99} ms; commit→Redis p50 ≤${r.p50} ms p99 ≤${r.p99} ms (last minute)`,
        );
    }
    const ok = inSync(reports);
    say(
      out,
      ok ? '    RESULT: MySQL, MongoDB and Redis are in sync.' : '    RESULT: NOT in sync (see above).',
    );
    say(out, '');
    say(out, 'Look at the data:');
    say(out, `    redis-cli -p ${new URL(config.sinks.redis.url).port} HGETALL customers:1`);
    say(
      out,
      `    mongosh ${config.sinks.mongodb.url}/${options.database} --eval 'db.customers.findOne({_id: 1})'`,
    );
    say(
      out,
      `    mariadb -h 127.0.0.1 -P ${new URL(config.source.url).port} -u root ${options.database} -e 'SELECT * FROM customers LIMIT 1'`,
    );
    say(
      out,
      'Keep it running live:  npx syncline run --database shop   (Ctrl-C stops it; a restart resumes)',
    );
    say(out, 'Stop the local stack:  npx syncline stack down');
    return ok;
  } finally {
    abort.abort();
    await watch.end().catch(() => undefined);
    await mongo.close().catch(() => undefined);
    if (redis.isOpen) await redis.close().catch(() => undefined);
    // run() stops cleanly: the relay finishes its batch, the Spark child ends.
    await running;
  }
}
