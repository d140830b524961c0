// End-to-end figures on the local stack, with `syncline run` as a user runs it:
//   1. initial load of a seeded demo database: snapshot rate into the change stream, and the time
//      until both sinks hold every row (snapshot → relay → Kafka → Spark → MongoDB + Redis);
//   2. verify over all of it (rows/s);
//   3. commit → MongoDB / Redis latency at fixed offered loads (row changes/s), from the job's
//      per-event histograms (source commit time → sink acknowledgement), steady state only;
//   4. writers flat out: the rate of each stage (MariaDB writes with triggers, relay into Kafka,
//      Spark into both sinks), which one saturates first, and CPU share per process.
//
//   npx tsx bench/e2e.ts [--rows 1000000] [--loads 1000,5000] [--seconds 180] [--flat-seconds 120]
//                        [--spark 'checkpointInterval: 2 minutes']
//
// Prints progress on stderr and one JSON object on stdout. Reports; asserts nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createClient } from 'redis';
import { CHANGELOG_TABLE } from '../src/capture/trigger/ddl.ts';
import { loadConfig, type Config } from '../src/config/load.ts';
import { connect } from '../src/mysql/connect.ts';
import { DEMO_TABLES } from '../src/mysql/demo/schema.ts';
import { createDemoSchema, seedDemo } from '../src/mysql/demo/seed.ts';
import { runWorkload } from '../src/mysql/demo/workload.ts';
import { quoteId } from '../src/mysql/identifiers.ts';
import {
  latencySummary,
  pipelineStatus,
  recentProgress,
  totalLag,
  waitForZeroLag,
} from '../src/observe/status.ts';
import { resolvePipeline } from '../src/pipeline/job.ts';
import { removePipelineData } from '../src/pipeline/remove-data.ts';
import { pipelineName, progressFile, type ResolvedPipeline } from '../src/spark/pipeline-files.ts';
import { PROJECT_ROOT } from '../src/stack/jvm.ts';
import { resolveStackOptions } from '../src/stack/options.ts';
import { stackUp } from '../src/stack/stack.ts';
import { verify } from '../src/verify/verify.ts';
import { cpuOf } from './cpu.ts';
import { cliArgs } from '../test/support/cli.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    loads: { type: 'string', default: '1000,5000' },
    seconds: { type: 'string', default: '180' },
    'flat-seconds': { type: 'string', default: '120' },
    'state-dir': { type: 'string', default: '.syncline' },
    /** Extra `spark:` settings as inline YAML, e.g. "checkpointInterval: 2 minutes". */
    spark: { type: 'string', default: '' },
  },
});
const ROWS = Number(args.rows);
const LOADS = args.loads.split(',').map(Number).filter(Boolean);
const SECONDS = Number(args.seconds);
const FLAT_SECONDS = Number(args['flat-seconds']);
/** How long a drain may take before the figures are taken as they are. */
const DRAIN_MS = Math.max(120_000, FLAT_SECONDS * 5000);
const log = (line: string) => process.stderr.write(`bench e2e: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function servicePid(stateDir: string, svc: string): number | undefined {
  try {
    return Number(readFileSync(join(stateDir, svc, `${svc}.pid`), 'utf8').trim());
  } catch {
    return undefined;
  }
}

function stackPids(stateDir: string): Record<'mariadb' | 'kafka' | 'mongodb' | 'redis', number | undefined> {
  return {
    mariadb: servicePid(stateDir, 'mariadb'),
    kafka: servicePid(stateDir, 'kafka'),
    mongodb: servicePid(stateDir, 'mongodb'),
    redis: servicePid(stateDir, 'redis'),
  };
}

/** Changelog ids handed out so far: every captured row change (and rolled-back ones) takes one. */
async function changelogIds(conn: Connection, database: string): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT AUTO_INCREMENT AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, CHANGELOG_TABLE],
  );
  return Number(rows[0]?.n ?? 0);
}

interface Counters {
  at: number;
  written: number;
  published: bigint;
  processed: bigint;
  backlog: number;
  kafkaLag: bigint;
}

async function counters(config: Config, conn: Connection, p: ResolvedPipeline): Promise<Counters> {
  const status = await pipelineStatus(config, conn, p);
  const lag = totalLag(status);
  let published = 0n;
  let processed = 0n;
  for (const t of status.tables) {
    published += BigInt(t.kafkaEndOffset);
    processed += BigInt(t.sparkProcessedOffset);
  }
  return {
    at: Date.now(),
    written: await changelogIds(conn, config.source.database),
    published,
    processed,
    backlog: lag.backlog,
    kafkaLag: lag.kafka,
  };
}

/** p50/p95/p99 (bucket upper bounds, ms) of commit → sink over the batches in [from, to]. */
function latency(config: Config, from: number, to: number) {
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
  const stateDir = stackOpts.stateDir;
  const database = `bench_e2e_${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'syncline-bench-'));
  const configFile = join(dir, 'syncline.yaml');
  // {db} in the Redis keys keeps this run's entries apart from the demo's and from other runs.
  writeFileSync(
    configFile,
    [
      `source: { database: ${database}, tables: "*" }`,
      `kafka: { topicPrefix: bench${process.pid} }`,
      ...(args.spark ? [`spark: { ${args.spark} }`] : []),
      'tables:',
      ...DEMO_TABLES.map((t) => `  ${t}: { redis: { key: "{db}:{table}:{key}" } }`),
      '',
    ].join('\n'),
  );
  const config = loadConfig({ configPath: configFile, stateDir });
  const conn = await connect({ url: up.urls.mysql });
  const result: Record<string, unknown> = {
    rows: ROWS,
    loads: LOADS,
    seconds: SECONDS,
    flatSeconds: FLAT_SECONDS,
  };
  let run: ChildProcess | null = null;
  try {
    await createDemoSchema(conn, database, { reset: true });
    let t0 = performance.now();
    const counts = await seedDemo(conn, database, ROWS, 7);
    const seeded = Object.values(counts).reduce((a, b) => a + Number(b), 0);
    log(`seeded ${seeded} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    result.seededRows = seeded;

    // 1. Initial load.
    t0 = performance.now();
    run = spawn(
      process.execPath,
      cliArgs(configFile, stateDir, ['run', '--skip-check', '--metrics-port', '0']),
      { cwd: PROJECT_ROOT, stdio: ['pipe', 'ignore', 'pipe'] },
    );
    let runLog = '';
    run.stderr!.on('data', (c: Buffer) => {
      runLog += c.toString();
      // BENCH_RUN_LOG=<file>: the run's own log, with the time of each chunk, for a closer look.
      if (process.env.BENCH_RUN_LOG)
        writeFileSync(process.env.BENCH_RUN_LOG, `[${new Date().toISOString()}] ${c.toString()}`, {
          flag: 'a',
        });
    });
    await conn.query(`USE ${quoteId(database)}`);
    let pipeline: ResolvedPipeline | null = null;
    for (let i = 0; i < 600 && !pipeline; i++) {
      await sleep(500);
      if (run.exitCode !== null)
        throw new Error(`syncline run exited (${run.exitCode}):\n${runLog.slice(-2000)}`);
      if (/relay and Spark job started/.test(runLog)) pipeline = await resolvePipeline(config, conn);
    }
    if (!pipeline) throw new Error('syncline run did not start its children within 5 minutes');
    const p = pipeline;
    // CPU seconds each process spends on the load: on a 2-core machine they share one budget, so
    // the services' own cost per row bounds the load rate whatever syncline's code does.
    const loadPids = {
      ...stackPids(stateDir),
      ...(JSON.parse(readFileSync(join(stateDir, 'run', `${pipelineName(config)}.json`), 'utf8')) as Record<
        string,
        number
      >),
    };
    const loadCpu0 = Object.fromEntries(Object.entries(loadPids).map(([k, pid]) => [k, cpuOf(pid)]));
    await waitForZeroLag(config, conn, p, 3 * 3600_000, log);
    const loadSeconds = (performance.now() - t0) / 1000;
    const cpuMsPerThousandRows = Object.fromEntries(
      Object.entries(loadPids).map(([k, pid]) => [
        k,
        +(((cpuOf(pid) - loadCpu0[k]!) * 1e6) / seeded).toFixed(1),
      ]),
    );
    const serviceMs = ['mariadb', 'kafka', 'mongodb', 'redis'].reduce(
      (a, k) => a + (cpuMsPerThousandRows[k] ?? 0),
      0,
    );
    const snapshots = [...runLog.matchAll(/run: snapshot (\S+): (\d+) rows, (\d+) rows\/s/g)].map((m) => ({
      table: m[1],
      rows: Number(m[2]),
      rowsPerSecond: Number(m[3]),
    }));
    const snapRows = snapshots.reduce((a, s) => a + s.rows, 0);
    const snapSeconds = snapshots.reduce((a, s) => a + s.rows / Math.max(1, s.rowsPerSecond), 0);
    result.initialLoad = {
      seconds: +loadSeconds.toFixed(1),
      rowsPerSecondEndToEnd: Math.round(seeded / loadSeconds),
      snapshotRowsPerSecond: snapSeconds > 0 ? Math.round(snapRows / snapSeconds) : null,
      snapshotPerTable: snapshots,
      cpuMsPerThousandRows,
      // Cores ÷ the four services' CPU per row: the load rate if syncline's processes cost nothing.
      serviceBoundRowsPerSecond: serviceMs > 0 ? Math.round((cpus().length * 1e6) / serviceMs) : null,
    };
    log(`initial load: ${JSON.stringify(result.initialLoad)}`);

    // 2. Verify over everything.
    const mongo = new MongoClient(config.sinks.mongodb.url, { useBigInt64: true });
    const redis = createClient({ url: config.sinks.redis.url });
    await mongo.connect();
    await redis.connect();
    t0 = performance.now();
    const reports = await verify({ mysql: conn, mongo, redis: redis as never }, p.job, p.tables);
    const verifySeconds = (performance.now() - t0) / 1000;
    const checked = reports.reduce((a, r) => a + r.rows, 0);
    const differences = reports
      .flatMap((r) => r.sinks)
      .reduce((a, s) => a + s.missing + s.extra + s.different, 0);
    result.verify = {
      rows: checked,
      seconds: +verifySeconds.toFixed(1),
      rowsPerSecond: Math.round(checked / verifySeconds),
      differences,
    };
    log(`verify: ${JSON.stringify(result.verify)}`);

    // 3. Fixed offered loads. A demo transaction changes ~1.9 rows; the offered rate is measured
    // from the changelog, not assumed.
    const pids = JSON.parse(
      readFileSync(join(stateDir, 'run', `${pipelineName(config)}.json`), 'utf8'),
    ) as Record<string, number>;
    const phases: unknown[] = [];
    for (const load of LOADS) {
      const abort = new AbortController();
      const work = runWorkload({
        target: { url: up.urls.mysql },
        database,
        ratePerSecond: Math.round(load / 1.9),
        connections: 4,
        durationMs: SECONDS * 1000,
        signal: abort.signal,
        seed: load,
      });
      const start = await counters(config, conn, p);
      const warmEnd = start.at + Math.min(30_000, SECONDS * 200);
      let end = start;
      let maxLag = 0n;
      let kept = true;
      while (Date.now() < start.at + SECONDS * 1000) {
        await sleep(2000);
        end = await counters(config, conn, p);
        const lag = end.kafkaLag + BigInt(end.backlog);
        if (lag > maxLag) maxLag = lag;
        // More than 30 s of offered load behind: it does not keep up; stop instead of queueing minutes.
        if (lag > BigInt(load * 30)) {
          kept = false;
          abort.abort();
          break;
        }
      }
      await work;
      // Kept up: the lag never reached 30 s of offered load, and what was in flight when the
      // writers stopped drained within a minute (a bounded lag, not a growing one).
      if (kept) {
        const drained = await waitForZeroLag(config, conn, p, 60_000).then(
          () => true,
          () => false,
        );
        kept = drained;
      }
      const s = (end.at - start.at) / 1000;
      const phase = {
        offeredRowChangesPerSecond: load,
        measuredWritesPerSecond: Math.round((end.written - start.written) / s),
        sparkEventsPerSecond: Math.round(Number(end.processed - start.processed) / s),
        seconds: +s.toFixed(0),
        keptUp: kept,
        maxLagEvents: Number(maxLag),
        // Batches started after the warm-up, up to now: after a drain, every event of the phase.
        latencyMs: latency(config, warmEnd, Date.now()),
      };
      log(`offered ${load}/s: ${JSON.stringify(phase)}`);
      phases.push(phase);
    }
    result.offeredLoads = phases;

    // 4. Flat out, from an empty pipeline so that no earlier backlog is counted.
    await waitForZeroLag(config, conn, p, DRAIN_MS, log).catch(() => log('flat out starts with a backlog'));
    const svc = {
      ...stackPids(stateDir),
      relay: pids.relay,
      spark: pids.spark,
    };
    const cpu0 = Object.fromEntries(Object.entries(svc).map(([k, pid]) => [k, cpuOf(pid)]));
    const self0 = process.cpuUsage();
    const work = runWorkload({
      target: { url: up.urls.mysql },
      database,
      ratePerSecond: 0,
      connections: 8,
      durationMs: FLAT_SECONDS * 1000,
      seed: 99,
    });
    const a = await counters(config, conn, p);
    await work;
    const b = await counters(config, conn, p);
    const s = (b.at - a.at) / 1000;
    const selfUsage = process.cpuUsage(self0);
    const cpuShare: Record<string, number> = Object.fromEntries(
      Object.entries(svc).map(([k, pid]) => [k, +((cpuOf(pid) - cpu0[k]!) / s).toFixed(2)]),
    );
    cpuShare.writers = +((selfUsage.user + selfUsage.system) / 1e6 / s).toFixed(2);
    // Spark's rate: everything written, over the time until it was all applied. Offsets are
    // committed per batch, so a batch still running at the end of the window hides its events.
    const drained = await waitForZeroLag(config, conn, p, DRAIN_MS).then(
      () => true,
      () => false,
    );
    const c = await counters(config, conn, p);
    // What the source committed: the events published plus the changelog rows still waiting for
    // the relay. `writes` counts changelog ids, which a rolled-back transaction also uses up (the
    // workload rolls back about one transaction in 22 on purpose, and more on deadlocks).
    const committed = (x: Counters) => x.published + BigInt(x.backlog);
    const rates = {
      writes: Math.round((b.written - a.written) / s),
      committed: Math.round(Number(committed(b) - committed(a)) / s),
      relay: Math.round(Number(b.published - a.published) / s),
      spark: Math.round(Number(c.processed - a.processed) / ((c.at - a.at) / 1000)),
      // What Spark applied while the writers ran: the rate above also counts the drain after them,
      // which runs with the writers' CPU free and so can hide a job that fell behind.
      sparkWhileWriting: Math.round(Number(b.processed - a.processed) / s),
    };
    // The first stage that falls behind the one feeding it (while the writers run) saturates first.
    const bottleneck =
      rates.sparkWhileWriting < rates.relay * 0.9
        ? 'Spark job (Kafka lag grows)'
        : rates.relay < rates.committed * 0.9
          ? 'relay (changelog backlog grows)'
          : 'MariaDB writes with triggers (the downstream stages keep up)';
    result.flatOut = {
      seconds: +s.toFixed(0),
      connections: 8,
      rowChangesPerSecond: rates,
      sustainedEndToEndPerSecond: Math.min(rates.writes, rates.relay, rates.sparkWhileWriting),
      drainedSecondsAfterWriters: drained ? Math.round((c.at - b.at) / 1000) : null,
      backlogGrowth: { changelog: b.backlog - a.backlog, kafka: Number(b.kafkaLag - a.kafkaLag) },
      bottleneck,
      cpuCoresUsed: cpuShare,
    };
    log(`flat out: ${JSON.stringify(result.flatOut)}`);
    await mongo.close();
    await redis.close();
  } finally {
    if (run && run.exitCode === null) {
      const exited = new Promise((r) => run!.once('exit', r));
      run.kill('SIGTERM');
      await Promise.race([exited, sleep(60_000)]);
      if (run.exitCode === null) run.kill('SIGKILL');
    }
    await removePipelineData(config, { dropSource: true }).catch((err: Error) =>
      log(`cleanup: ${err.message}`),
    );
    await conn.end();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

await main();
process.exit(0);
