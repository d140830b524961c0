// Commands that run the pipeline as a whole: snapshot, run, verify.
import type { Command } from 'commander';
import { MongoClient } from 'mongodb';
import { createClient, type RedisClientType } from 'redis';
import { configFromCommand } from '../capture/cli.ts';
import type { Config } from '../config/load.ts';
import { formatProgress } from '../spark/launcher.ts';
import { resolvePipeline } from '../pipeline/job.ts';
import { pipelineName } from '../spark/pipeline-files.ts';
import { acquireLock, describeHolder, snapshotLockFile, type Lock } from '../pipeline/lock.ts';
import { runPipeline } from '../pipeline/run.ts';
import { runDemo } from '../pipeline/demo.ts';
import { doctor, formatChecks } from '../observe/doctor.ts';
import { formatStatus, pipelineStatus, waitForZeroLag } from '../observe/status.ts';
import { formatReports, inSync, verify } from '../verify/verify.ts';
import { runSnapshots } from '../capture/snapshot/run-snapshot.ts';
import { DEFAULT_CHUNK_ROWS } from '../capture/snapshot/snapshot.ts';
import { capturedTables, triggerStatus } from '../capture/trigger/install.ts';
import { changelogDdl } from '../capture/trigger/ddl.ts';
import { readBinlogPosition } from '../capture/binlog/index.ts';
import { connectSource } from '../mysql/connect.ts';
import { urlWithPassword } from '../config/urls.ts';

export function registerPipelineCommands(program: Command): void {
  program
    .command('snapshot')
    .description(
      'load existing rows: copy them in primary-key chunks into the change stream as `r` events (resumable)',
    )
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--table <name...>', 'only these tables (default: every captured table)')
    .option('--restart', 'start over from the first key, even for tables already loaded')
    .option('--chunk-size <rows>', 'rows per chunk (one short transaction each)', String(DEFAULT_CHUNK_ROWS))
    .option('--json', 'print the summary as JSON')
    .action(
      async (
        opts: { table?: string[]; restart?: boolean; chunkSize: string; json?: boolean },
        cmd: Command,
      ) => {
        const config = configFromCommand(cmd);
        const chunkSize = Number(opts.chunkSize);
        if (!Number.isInteger(chunkSize) || chunkSize < 1)
          throw new Error(`--chunk-size must be a positive integer, got ${opts.chunkSize}`);
        const conn = await connectSource(config);
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        process.once('SIGTERM', () => abort.abort());
        const locks: Lock[] = [];
        try {
          let tables = await capturedTables(conn, config.source.database, config.source.tables);
          if (opts.table) {
            const unknown = opts.table.filter((t) => !tables.some((s) => s.name === t));
            if (unknown.length > 0) {
              throw new Error(
                `--table: ${unknown.join(', ')} is not a captured table of ${config.source.database} (captured: ${tables.map((t) => t.name).join(', ')})`,
              );
            }
            tables = tables.filter((t) => opts.table!.includes(t.name));
          }
          if (config.source.capture === 'binlog') {
            // The chunks reach Kafka through the binlog only from the reader's start position on.
            if (!(await readBinlogPosition(config)))
              throw new Error(
                'binlog capture has not started for this state folder yet, so the snapshot would not reach Kafka. To fix: use `syncline run` (it records the start position, then snapshots)',
              );
            await conn.query(changelogDdl());
          }
          const statuses = config.source.capture === 'binlog' ? [] : await triggerStatus(conn, tables);
          const missing = statuses.filter((s) => !s.installed || s.drift).map((s) => s.table);
          if (missing.length > 0) {
            // Without current triggers, changes made during the snapshot would not be captured.
            throw new Error(
              `capture triggers are missing or out of date for ${missing.join(', ')}. To fix: run \`syncline triggers install\` first (or use \`syncline run\`, which does both).`,
            );
          }
          // A table that a running `run` (or another `snapshot`) is loading is refused, naming it.
          for (const t of tables)
            locks.push(
              acquireLock(snapshotLockFile(config.stateDir, pipelineName(config), t.name), {
                role: `snapshot of ${t.name}`,
                refuse: (h) =>
                  `${t.name} is being loaded right now by ${h.role.startsWith('run') ? '`syncline run`' : 'another `syncline snapshot`'} (${describeHolder(h)}). To fix: wait until it has finished (\`syncline status\` shows the lag going to 0), or stop it first.`,
              }),
            );
          const summaries = await runSnapshots(conn, tables, {
            restart: Boolean(opts.restart),
            chunkSize,
            signal: abort.signal,
          });
          if (opts.json) process.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
          else
            for (const s of summaries) {
              process.stdout.write(
                `${s.table}: ${s.rows.toLocaleString('en-US')} rows${s.resumedFrom > 0 ? ` (resumed after ${s.resumedFrom.toLocaleString('en-US')})` : ''} in ${s.seconds.toFixed(1)} s, ${Math.round(s.rowsPerSecond).toLocaleString('en-US')} rows/s\n`,
              );
            }
          if (abort.signal.aborted) {
            process.stderr.write(
              'snapshot interrupted; run it again to continue after the last finished chunk\n',
            );
            process.exitCode = 130;
          }
        } finally {
          for (const lock of locks) lock.release();
          await conn.end();
        }
      },
    );
}

/** Root options to hand to child processes of this CLI (the relay started by `run`). */
function rootArgs(config: Config): string[] {
  return ['--state-dir', config.stateDir, ...(config.file ? ['--config', config.file] : [])];
}

export function registerMainCommands(program: Command): void {
  program
    .command('run')
    .description(
      'the main job: triggers, snapshot of new tables, relay and Spark job, kept running until Ctrl-C',
    )
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--no-snapshot', 'do not snapshot tables that were never loaded')
    .option('--skip-check', 'skip the Spark SQL expression check at start')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on 127.0.0.1:<port> (0: off)', '9464')
    .option(
      '--wait-for-services <seconds>',
      'at start, wait this long for MySQL, Kafka, MongoDB and Redis to answer (default 120, or SYNCLINE_WAIT_FOR_SERVICES_SECONDS)',
    )
    .action(
      async (
        opts: { snapshot: boolean; skipCheck?: boolean; metricsPort: string; waitForServices?: string },
        cmd: Command,
      ) => {
        const config = configFromCommand(cmd);
        const waitSeconds = opts.waitForServices === undefined ? undefined : Number(opts.waitForServices);
        if (waitSeconds !== undefined && (!Number.isFinite(waitSeconds) || waitSeconds < 0)) {
          throw new Error(`--wait-for-services: "${opts.waitForServices}" is not a number of seconds ≥ 0`);
        }
        const abort = new AbortController();
        const stop = () => abort.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await runPipeline(config, {
          cli: {
            execPath: process.execPath,
            execArgv: process.execArgv,
            script: process.argv[1]!,
            rootArgs: rootArgs(config),
          },
          snapshot: opts.snapshot,
          skipCheck: Boolean(opts.skipCheck),
          metricsPort: Number(opts.metricsPort),
          ...(waitSeconds !== undefined ? { serviceWaitMs: waitSeconds * 1000 } : {}),
          signal: abort.signal,
          onProgress: (p) => process.stderr.write(`spark: ${formatProgress(p)}\n`),
        });
      },
    );

  program
    .command('verify')
    .description('compare every MySQL row with MongoDB and Redis; exit code 0 only when all match')
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--table <name...>', 'only these tables')
    .option('--sample <n>', 'check only n random rows per table (no search for extra entries)')
    .option(
      '--wait [seconds]',
      'first wait until the changelog is drained and Spark has caught up (default 300 s)',
    )
    .option('--json', 'print the report as JSON')
    .action(
      async (
        opts: { table?: string[]; sample?: string; wait?: string | boolean; json?: boolean },
        cmd: Command,
      ) => {
        const config = configFromCommand(cmd);
        const sample = opts.sample !== undefined ? Number(opts.sample) : undefined;
        if (sample !== undefined && (!Number.isInteger(sample) || sample < 1))
          throw new Error(`--sample must be a positive integer, got ${opts.sample}`);
        const conn = await connectSource(config);
        const mongo = new MongoClient(
          urlWithPassword(config.sinks.mongodb.url, config.sinks.mongodb.password),
          {
            useBigInt64: true,
          },
        );
        const redis = createClient({
          url: urlWithPassword(config.sinks.redis.url, config.sinks.redis.password),
        }) as RedisClientType;
        redis.on('error', () => {});
        try {
          const pipeline = await resolvePipeline(config, conn);
          if (opts.wait !== undefined && opts.wait !== false) {
            const seconds = opts.wait === true ? 300 : Number(opts.wait);
            await waitForZeroLag(config, conn, pipeline, seconds * 1000, (line) =>
              process.stderr.write(`${line}\n`),
            );
          }
          await mongo.connect();
          await redis.connect();
          const reports = await verify({ mysql: conn, mongo, redis }, pipeline.job, pipeline.tables, {
            ...(opts.table ? { tables: opts.table } : {}),
            ...(sample !== undefined ? { sample } : {}),
          });
          if (opts.json)
            process.stdout.write(
              `${JSON.stringify({ inSync: inSync(reports), tables: reports }, null, 2)}\n`,
            );
          else process.stdout.write(`${formatReports(reports)}\n`);
          if (!inSync(reports)) process.exitCode = 1;
        } finally {
          await conn.end().catch(() => undefined);
          await mongo.close().catch(() => undefined);
          if (redis.isOpen) await redis.close().catch(() => undefined);
        }
      },
    );

  program
    .command('status')
    .description('per table: changelog backlog, Kafka lag behind the Spark job, events/s, dead letters')
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--json', 'print JSON')
    .option('--watch [seconds]', 'refresh every few seconds (default 2) until Ctrl-C')
    .action(async (opts: { json?: boolean; watch?: string | boolean }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const conn = await connectSource(config);
      try {
        const pipeline = await resolvePipeline(config, conn);
        const every =
          opts.watch === undefined || opts.watch === false ? 0 : opts.watch === true ? 2 : Number(opts.watch);
        let stop = false;
        process.once('SIGINT', () => (stop = true));
        do {
          const status = await pipelineStatus(config, conn, pipeline);
          const text = opts.json ? JSON.stringify(status, null, 2) : formatStatus(status);
          if (every > 0 && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          process.stdout.write(`${text}\n`);
          if (every > 0) await new Promise((r) => setTimeout(r, every * 1000));
        } while (every > 0 && !stop);
      } finally {
        await conn.end().catch(() => undefined);
      }
    });

  // `syncline demo` with no subcommand is the whole demo; `demo seed|schema|workload` stay parts.
  const demo = program.commands.find((c) => c.name() === 'demo');
  if (demo) {
    demo
      .option('--database <name>', 'the demo database on the local stack (recreated)', 'shop')
      .option('--rows <n>', 'rows to seed over the four demo tables', '100000')
      .option('--seconds <n>', 'how long the live workload runs', '60')
      .option('--rate <n>', 'live transactions per second (each changes 1-6 rows)', '600')
      .option('--connections <n>', 'concurrent writer connections', '4')
      .option('--seed <n>', 'random seed of the data and the workload', '1')
      .action(async (opts: Record<string, string>, cmd: Command) => {
        const flags = cmd.optsWithGlobals() as { stateDir?: string; database?: string };
        const num = (name: string, min: number) => {
          const v = Number(opts[name]);
          if (!Number.isInteger(v) || v < min)
            throw new Error(`--${name} must be an integer ≥ ${min}, got ${opts[name]}`);
          return v;
        };
        const ok = await runDemo({
          stateDir: flags.stateDir ?? '.syncline',
          database: flags.database ?? 'shop',
          rows: num('rows', 4),
          seed: num('seed', 0),
          seconds: num('seconds', 1),
          rate: num('rate', 1),
          connections: num('connections', 1),
          cli: {
            execPath: process.execPath,
            execArgv: process.execArgv,
            script: process.argv[1]!,
            rootArgs: ['--state-dir', flags.stateDir ?? '.syncline'],
          },
        });
        process.exitCode = ok ? 0 : 1;
      });
  }

  program
    .command('doctor')
    .description(
      'check the source (privileges, binlog, triggers, keys) and that Kafka, MongoDB, Redis and Java answer',
    )
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const checks = await doctor(config);
      process.stdout.write(`${opts.json ? JSON.stringify(checks, null, 2) : formatChecks(checks)}\n`);
      if (checks.some((c) => c.state === 'fail')) process.exitCode = 1;
    });
}
