// `syncline demo` (= `npm run demo`): from nothing to a live, verified pipeline on the local
// stack. Stack up, demo schema and seed, `run` (snapshot + live capture), a live workload with a
// status line, then verify and a closing summary.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import type { Connection } from 'mysql2/promise';
import { createClient, type RedisClientType } from 'redis';
import { resolveConfig, type Config } from '../config/load.ts';
import { registerSecret } from '../config/redact.ts';
import { connect, connectSource } from '../mysql/connect.ts';
import { DEMO_TABLES } from '../mysql/demo/schema.ts';
import { createDemoSchema, seedDemo } from '../mysql/demo/seed.ts';
import { runWorkload } from '../mysql/demo/workload.ts';
import { quoteId } from '../mysql/identifiers.ts';
import { GLOBAL_PRIVILEGES, SOURCE_PRIVILEGES } from '../mysql/privileges.ts';
import { endOffsets } from '../observe/lag.ts';
import {
  formatLatency,
  pipelineStatus,
  totalLag,
  waitForZeroLag,
  type LatencySummary,
  type PipelineStatus,
} from '../observe/status.ts';
import { resolveStackOptions } from '../stack/options.ts';
import { stackUp } from '../stack/stack.ts';
import { formatReports, inSync, verify } from '../verify/verify.ts';
import type { ResolvedPipeline } from '../spark/pipeline-files.ts';
import { removePipelineData } from './remove-data.ts';
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
    await root.query(`GRANT ${GLOBAL_PRIVILEGES.join(', ')} ON *.* TO ?@'127.0.0.1'`, [DEMO_USER]);
  } finally {
    await root.end();
  }
  const url = new URL(rootUrl);
  url.username = DEMO_USER;
  url.password = '';
  return { url: url.toString().replace(/\/$/, ''), passwordFile };
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

export function statusLine(s: PipelineStatus, eventsPerSecond: number): string {
  const lag = totalLag(s);
  // The slowest table's bounds, over the tables that have a measurement at all.
  const measured = s.tables.map((t) => t.latencyMs.redis).filter((l) => l.samples > 0);
  const worst: LatencySummary | null =
    measured.length === 0
      ? null
      : {
          samples: measured.reduce((a, l) => a + l.samples, 0),
          p50: Math.max(...measured.map((l) => l.p50 ?? 0)),
          p95: Math.max(...measured.map((l) => l.p95 ?? 0)),
          p99: Math.max(...measured.map((l) => l.p99 ?? 0)),
        };
  return `live: ${Math.round(eventsPerSecond)} events/s into Kafka | changelog backlog ${lag.backlog} | Spark lag ${lag.kafka} | commit→Redis p50/p99 ${formatLatency(worst)}`;
}

/** Events the Spark job has finished per table (Kafka end offset minus what it still has to do). */
function appliedPerTable(s: PipelineStatus): Map<string, number> {
  return new Map(s.tables.map((t) => [t.table, Number(BigInt(t.kafkaEndOffset) - BigInt(t.kafkaLag))]));
}

/**
 * The initial load as a user can follow it: rows applied per table out of the rows seeded, the
 * rate over the load so far and an ETA. Before, only the unchanged totals "changelog backlog 0,
 * Kafka lag 100000" were printed for minutes while the first batches ran (issue 13).
 */
export function loadProgressLine(
  seededPerTable: Record<string, number>,
  applied: Map<string, number>,
  elapsedSeconds: number,
): string {
  const tables = Object.entries(seededPerTable).filter(([, n]) => n > 0);
  const total = tables.reduce((a, [, n]) => a + n, 0);
  const done = tables.reduce((a, [t, n]) => a + Math.min(n, applied.get(t) ?? 0), 0);
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const eta = done >= total ? 'done' : rate > 0 ? `ETA ${Math.ceil((total - done) / rate)} s` : 'ETA –';
  const per = tables
    .map(
      ([t, n]) =>
        `${t} ${Math.min(n, applied.get(t) ?? 0).toLocaleString('en-US')}/${n.toLocaleString('en-US')}`,
    )
    .join(' · ');
  const share = total > 0 ? Math.floor((done / total) * 100) : 100;
  return `loading: ${share}% applied (${per}) | ${Math.round(rate).toLocaleString('en-US')} rows/s | ${eta}`;
}

/** Waits until the seeded rows are applied and nothing is behind, printing progress every 5 s. */
async function waitForInitialLoad(
  config: Config,
  conn: Connection,
  pipeline: ResolvedPipeline,
  seededPerTable: Record<string, number>,
  log: (line: string) => void,
): Promise<void> {
  const started = performance.now();
  const baseline = appliedPerTable(await pipelineStatus(config, conn, pipeline));
  let lastLog = performance.now();
  const ticker = setInterval(() => {
    void (async () => {
      const now = appliedPerTable(await pipelineStatus(config, conn, pipeline));
      const since = new Map([...now].map(([t, n]) => [t, n - (baseline.get(t) ?? 0)]));
      log(loadProgressLine(seededPerTable, since, (performance.now() - started) / 1000));
      lastLog = performance.now();
    })().catch(() => undefined);
  }, 5000);
  try {
    await waitForZeroLag(config, conn, pipeline, 1_800_000, (line) => {
      // The ticker speaks for the load; the generic line only if it fell silent.
      if (performance.now() - lastLog > 10_000) log(line);
    });
  } finally {
    clearInterval(ticker);
  }
}

/**
 * The closing "look at the data" commands. Each must work on the machine the demo just set up
 * (the stack installs redis-cli and the mariadb client with the servers; `syncline show` reads
 * MongoDB), and is tested by running it.
 */
export function demoHints(opts: {
  stateDir: string;
  database: string;
  mysqlUrl: string;
  redisUrl: string;
}): { label: string; command: string }[] {
  const q = (s: string) => (/^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const state = resolve(opts.stateDir) === resolve('.syncline') ? '' : ` --state-dir ${q(opts.stateDir)}`;
  const db = q(opts.database);
  const redis = new URL(opts.redisUrl);
  const mysql = new URL(opts.mysqlUrl);
  return [
    {
      label: 'one row in all three stores, side by side',
      command: `npx syncline${state} show customers 1 --database ${db}`,
    },
    {
      label: 'the Redis entry',
      command: `redis-cli -h ${redis.hostname} -p ${redis.port} HGETALL ${q(`${opts.database}:customers:1`)}`,
    },
    {
      label: 'the MySQL row',
      command: `mariadb -h ${mysql.hostname} -P ${mysql.port} -u root ${db} -e 'SELECT * FROM customers WHERE id = 1'`,
    },
    {
      label: 'keep it running live (Ctrl-C stops it; a restart resumes)',
      command: `npx syncline${state} run --database ${db}`,
    },
    { label: 'stop the local stack', command: `npx syncline${state} stack down` },
  ];
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
    },
    { stateDir: options.stateDir },
  );

  say(
    out,
    `2/6 demo schema and ${options.rows.toLocaleString('en-US')} rows in ${options.database} (seed ${options.seed})`,
  );
  say(
    out,
    `    syncline runs as MySQL user ${DEMO_USER} with only ${SOURCE_PRIVILEGES.join(', ')} on ${options.database}.* and ${GLOBAL_PRIVILEGES.join(', ')} (to notice TRUNCATE) (password in ${user.passwordFile}); the workload writes as root, like an application`,
  );
  // What an earlier demo left in the sinks, Kafka and the state dir, so verify starts clean.
  await removePipelineData(config, { tables: DEMO_TABLES, waitForTopics: true });
  const conn: Connection = await connect({ url: up.urls.mysql });
  let seeded = 0;
  let seededPerTable: Record<string, number> = {};
  try {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(options.database)}`);
    await createDemoSchema(conn, options.database, { reset: true });
    const t0 = performance.now();
    const counts = await seedDemo(conn, options.database, options.rows, options.seed);
    seeded = Object.values(counts).reduce((a, b) => a + Number(b), 0);
    seededPerTable = { ...counts };
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
    await waitForInitialLoad(config, watch, p, seededPerTable, (line) => say(out, `    ${line}`));
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
          `    ${t.table}: commit→MongoDB p50/p99 ${formatLatency(m)}; commit→Redis p50/p99 ${formatLatency(r)} (last minute)`,
        );
    }
    const ok = inSync(reports);
    say(
      out,
      ok ? '    RESULT: MySQL, MongoDB and Redis are in sync.' : '    RESULT: NOT in sync (see above).',
    );
    say(out, '');
    say(out, 'Look at the data:');
    for (const hint of demoHints({
      stateDir: options.stateDir,
      database: options.database,
      mysqlUrl: up.urls.mysql,
      redisUrl: config.sinks.redis.url,
    }))
      say(out, `    ${hint.command}    # ${hint.label}`);
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
