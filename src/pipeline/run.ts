// `syncline run`: the main job. Checks the source, prepares the capture mode (installs or refreshes
// the triggers, or records the binlog start position: capture-mode.ts), starts the capture process
// (relay or binlog reader) and the Spark job as supervised child processes, snapshots the tables
// that were never loaded, and keeps everything running until SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Connection } from 'mysql2/promise';
import type { Config } from '../config/load.ts';
import type { TableSchema } from '../model/types.ts';
import { redact } from '../config/redact.ts';
import { runSnapshots, tablesNeedingSnapshot } from '../capture/snapshot/run-snapshot.ts';
import { capturedTables, installTriggers, triggerStatus } from '../capture/trigger/install.ts';
import { resetSnapshot } from '../capture/snapshot/snapshot.ts';
import { createAdmin, ensureTopics } from '../kafka/client.ts';
import { connectSource } from '../mysql/connect.ts';
import { quoteId } from '../mysql/identifiers.ts';
import {
  checkJobDescription,
  localCommand,
  parseProgressLine,
  writeJobFile,
  type BatchProgress,
} from '../spark/launcher.ts';
import { resolvePipeline } from './job.ts';
import { pipelineName, type ResolvedPipeline } from '../spark/pipeline-files.ts';
import { Supervisor } from './supervisor.ts';
import { prepareCapture } from './capture-mode.ts';
import { checkMongoNames, waitForServices, withBackoff } from './preflight.ts';
import type { Server } from 'node:http';
import { pipelineRegistry, serveMetrics } from '../observe/metrics.ts';
import { pipelineStatus } from '../observe/status.ts';
import { binlogGrantStatement, grantStatement, missingBinlogPrivileges } from '../mysql/privileges.ts';
import { binlogSettingProblems, describeBinlogProblems } from '../mysql/binlog.ts';
import { ServiceError } from '../errors/registry.ts';
import {
  acquireLock,
  acquirePipelineLock,
  describeHolder,
  LockHeldError,
  snapshotLockFile,
  type Lock,
} from './lock.ts';

export interface RunOptions {
  /** How the child relay is started: this CLI again, with the same config and state dir. */
  cli: { execPath: string; execArgv: string[]; script: string; rootArgs: string[] };
  snapshot?: boolean;
  /** Serve /metrics on 127.0.0.1:<port>; 0 turns it off. */
  metricsPort?: number;
  /** How often to look for schema changes (new tables, changed columns); default 5 s. */
  schemaCheckMs?: number;
  /**
   * How long to wait at start for MySQL, Kafka, MongoDB and Redis to answer (default: env
   * SYNCLINE_WAIT_FOR_SERVICES_SECONDS, else 120 s).
   */
  serviceWaitMs?: number;
  /** Skip the Spark expression check (it starts a JVM for a few seconds). */
  skipCheck?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
  onProgress?: (p: BatchProgress) => void;
  /** Called once the children are started (tests use it to know when to write). */
  onStarted?: (info: { supervisor: Supervisor; pipeline: ResolvedPipeline }) => void;
}

export class RunError extends Error {
  override name = 'RunError';
}

/** What `run` checks before it changes anything on the source. */
export async function checkSource(conn: Connection, config: Config): Promise<void> {
  const [rows] = await conn.query('SELECT @@version AS v');
  const version = String((rows as { v: string }[])[0]?.v ?? '');
  const [grants] = await conn.query('SHOW GRANTS');
  const text = (grants as Record<string, string>[]).map((g) => Object.values(g)[0]).join('\n');
  if (config.source.capture === 'binlog') {
    const problems = await binlogSettingProblems(conn);
    if (problems.length > 0)
      throw new RunError(
        `source.capture is "binlog" but the server (${version}) is not set up for it: ${describeBinlogProblems(problems)}`,
      );
    const missing = missingBinlogPrivileges(text.toUpperCase());
    if (missing.length > 0)
      throw new ServiceError(
        'SYNCLINE_MYSQL_PRIVILEGES',
        `binlog capture reads the binary log as a replica, and the user lacks ${missing.join(', ')} (server ${version}); needed: ${binlogGrantStatement()}`,
      );
    return;
  }
  // ALL PRIVILEGES on the captured database is enough, not only on *.* (SHOW GRANTS quotes the
  // name exactly as quoteId does).
  const hasAll =
    /GRANT ALL PRIVILEGES ON \*\.\*/i.test(text) ||
    text.toUpperCase().includes(`GRANT ALL PRIVILEGES ON ${quoteId(config.source.database).toUpperCase()}.*`);
  if (!hasAll && !/TRIGGER/i.test(text)) {
    throw new ServiceError(
      'SYNCLINE_MYSQL_PRIVILEGES',
      `the user cannot create triggers on ${config.source.database} (server ${version}); needed: ${grantStatement(config.source.database)}`,
    );
  }
}

function logStream(stateDir: string, name: string): WriteStream {
  const dir = join(resolve(stateDir), 'logs');
  mkdirSync(dir, { recursive: true });
  return createWriteStream(join(dir, `${name}.log`), { flags: 'a' });
}

/**
 * The snapshot resumes after its last finished chunk, so any failure (MySQL restarted, network)
 * is answered by reconnecting and continuing, with backoff, before giving up.
 */
async function snapshotWithRetries(
  config: Config,
  pipeline: ResolvedPipeline,
  signal: AbortSignal | undefined,
  log: (line: string) => void,
): Promise<void> {
  let waitingFor = '';
  for (let attempt = 1; !signal?.aborted; attempt += 1) {
    let conn: Connection | null = null;
    let locks: Lock[] = [];
    try {
      conn = await connectSource(config);
      // Columns as they are now: a table altered since the pipeline was resolved would fail every
      // retry with the old column list (`run` follows the change itself).
      const names = new Set(pipeline.tables.map((t) => t.name));
      const tables = (await capturedTables(conn, config.source.database, config.source.tables)).filter((t) =>
        names.has(t.name),
      );
      const todo = await tablesNeedingSnapshot(conn, tables);
      if (todo.length === 0) return;
      locks = lockSnapshots(
        config,
        todo.map((t) => t.name),
      );
      log(`run: snapshot of ${todo.map((t) => t.name).join(', ')}`);
      const summaries = await runSnapshots(conn, todo, { ...(signal ? { signal } : {}) });
      for (const s of summaries)
        log(`run: snapshot ${s.table}: ${s.rows} rows, ${Math.round(s.rowsPerSecond)} rows/s`);
      return;
    } catch (err) {
      if (err instanceof LockHeldError) {
        // A `syncline snapshot` of the same table is under way: wait for it, it is not a failure.
        if (waitingFor !== err.message) log(`run: ${err.message}; waiting for it to finish`);
        waitingFor = err.message;
        attempt -= 1;
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      if (attempt >= 10)
        throw new RunError(
          `the snapshot failed ${attempt} times; last error: ${redact((err as Error).message)}`,
        );
      const delay = Math.min(500 * 2 ** (attempt - 1), 15_000);
      log(
        `run: snapshot interrupted (${redact((err as Error).message)}); resuming in ${(delay / 1000).toFixed(1)} s`,
      );
      await new Promise((r) => setTimeout(r, delay));
    } finally {
      for (const lock of locks) lock.release();
      await conn?.end().catch(() => undefined);
    }
  }
}

/** Locks the snapshot of each table, or none of them. */
function lockSnapshots(config: Config, tables: string[]): Lock[] {
  const held: Lock[] = [];
  try {
    for (const table of tables)
      held.push(
        acquireLock(snapshotLockFile(config.stateDir, pipelineName(config), table), {
          role: `run, loading ${table}`,
          refuse: (h) => `the snapshot of ${table} is being run by ${describeHolder(h)}`,
        }),
      );
    return held;
  } catch (err) {
    for (const lock of held) lock.release();
    throw err;
  }
}

async function createTopics(config: Config, pipeline: ResolvedPipeline): Promise<void> {
  const admin = createAdmin(config.kafka);
  try {
    await ensureTopics(admin, [...pipeline.job.tables.map((t) => t.topic), pipeline.job.kafka.dlqTopic], {
      partitions: config.kafka.partitions,
      replicationFactor: config.kafka.replicationFactor,
    });
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/**
 * A short-lived connection for periodic work (schema checks, metrics): a MariaDB restart must not
 * leave `run` holding a dead connection.
 */
async function withSource<T>(config: Config, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = await connectSource(config);
  try {
    return await fn(conn);
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

async function resetSnapshotOf(config: Config, table: string): Promise<void> {
  await withSource(config, (conn) => resetSnapshot(conn, table));
}

function serviceWaitMs(options: RunOptions): number {
  if (options.serviceWaitMs !== undefined) return options.serviceWaitMs;
  const env = process.env.SYNCLINE_WAIT_FOR_SERVICES_SECONDS;
  const seconds = env === undefined || env === '' ? 120 : Number(env);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new RunError(`SYNCLINE_WAIT_FOR_SERVICES_SECONDS must be a number of seconds ≥ 0, got "${env}"`);
  return seconds * 1000;
}

export async function runPipeline(config: Config, options: RunOptions): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const waitMs = serviceWaitMs(options);
  // First of all, before anything touches the source, Kafka or the checkpoint.
  const lock = acquirePipelineLock(config.stateDir, pipelineName(config), config.source.database, 'run');
  try {
    await runLocked(config, options, log, waitMs);
  } finally {
    lock.release();
  }
}

async function runLocked(
  config: Config,
  options: RunOptions,
  log: (line: string) => void,
  waitMs: number,
): Promise<void> {
  const wait = { waitMs, deadline: Date.now() + waitMs, log, signal: options.signal };
  // Waiting helps when a service is still starting; a wrong password fails at once.
  const conn = await withBackoff('MySQL', () => connectSource(config), wait).catch((err: unknown) => {
    throw err instanceof Error ? new RunError(redact(err.message)) : err;
  });
  let supervisor: Supervisor | null = null;
  let metricsServer: Server | null = null;
  let ddlTimer: NodeJS.Timeout | undefined;
  let connOpen = true;
  const relayLog = logStream(config.stateDir, 'relay');
  const sparkLog = logStream(config.stateDir, 'spark');
  try {
    await checkSource(conn, config);
    // Nothing is installed until every sink name is legal and every service answers: a run that
    // cannot deliver must not leave triggers filling a changelog that nobody drains (nor the
    // source's identity table: it is created once the services answer).
    checkMongoNames(config, (await resolvePipeline(config, conn, { createIdentity: false })).job);
    await waitForServices(config, wait);
    const pipeline = await resolvePipeline(config, conn);
    await prepareCapture(conn, config, pipeline, log);

    const jobFile = writeJobFile(
      pipeline.job,
      join(resolve(config.stateDir), 'spark', `${pipelineName(config)}.job.json`),
    );
    if (!options.skipCheck) {
      const problems = checkJobDescription(jobFile);
      if (problems.length > 0) {
        throw new RunError(
          `invalid Spark SQL in syncline.yaml:\n${problems.map((p) => `  tables.${p.table}: ${p.field}: ${p.message}`).join('\n')}`,
        );
      }
    }

    // Topics exist with the configured partition count before Spark subscribes to them.
    await createTopics(config, pipeline);
    let current = pipeline;

    // Who is running, for `status`, tools and the chaos suite: <state>/run/<name>.json.
    const pids: Record<string, number | undefined> = { run: process.pid };
    const pidFile = join(resolve(config.stateDir), 'run', `${pipelineName(config)}.json`);
    mkdirSync(dirname(pidFile), { recursive: true });
    supervisor = new Supervisor({
      log,
      onLaunch: (name, pid) => {
        pids[name] = pid;
        writeFileSync(pidFile, `${JSON.stringify(pids)}\n`);
      },
    });
    const { cli } = options;
    supervisor.add({
      name: 'relay',
      start: (): ChildProcess => {
        const child = spawn(
          cli.execPath,
          [...cli.execArgv, cli.script, ...cli.rootArgs, 'capture', '--database', config.source.database],
          // stdin stays open as a lifeline: the child exits when `run` dies, even by SIGKILL.
          { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SYNCLINE_EXIT_WITH_PARENT: '1' } },
        );
        child.stdout!.pipe(relayLog, { end: false });
        child.stderr!.pipe(relayLog, { end: false });
        return child;
      },
    });
    const sparkCmd = localCommand(jobFile);
    supervisor.add({
      name: 'spark',
      start: (): ChildProcess => {
        const child = spawn(sparkCmd.command, sparkCmd.args, {
          env: { ...pipeline.sparkEnv, SYNCLINE_EXIT_WITH_PARENT: '1' },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let buffer = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          buffer += chunk.toString('utf8');
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            const progress = parseProgressLine(line);
            if (progress) options.onProgress?.(progress);
            else sparkLog.write(`${line}\n`);
          }
        });
        child.stderr!.pipe(sparkLog, { end: false });
        return child;
      },
    });
    log(`run: relay and Spark job started (logs in ${join(resolve(config.stateDir), 'logs')})`);
    if (options.metricsPort) {
      const sup = supervisor;
      const registry = pipelineRegistry({
        status: () => withSource(config, (c) => pipelineStatus(config, c, current)),
        children: () =>
          ['relay', 'spark'].map((name) => ({
            name,
            up: sup.pid(name) !== undefined,
            restarts: sup.restarts(name),
          })),
      });
      try {
        metricsServer = await serveMetrics(registry, options.metricsPort);
        log(`run: Prometheus metrics on http://127.0.0.1:${options.metricsPort}/metrics`);
      } catch (err) {
        log(`run: no /metrics: ${(err as Error).message}`);
      }
    }
    options.onStarted?.({ supervisor, pipeline });
    // From here on only short-lived connections: a MariaDB restart must not kill `run`.
    await conn.end().catch(() => conn.destroy());
    connOpen = false;

    const stopped = new Promise<void>((resolvePromise) => {
      if (options.signal?.aborted) resolvePromise();
      options.signal?.addEventListener('abort', () => resolvePromise(), { once: true });
    });
    const failed = supervisor.done.then(
      () => undefined,
      (err: Error) => err,
    );

    if (options.snapshot !== false) await snapshotWithRetries(config, pipeline, options.signal, log);

    // Schema changes while running: new tables (with `tables: "*"`) and changed columns.
    let ddlBusy = false;
    ddlTimer = setInterval(() => {
      if (ddlBusy || options.signal?.aborted) return;
      ddlBusy = true;
      void followSchemaChanges()
        .catch((err: Error) => log(`run: schema check failed (${redact(err.message)}); trying again`))
        .finally(() => (ddlBusy = false));
    }, options.schemaCheckMs ?? 5000);
    const sup = supervisor;
    const followSchemaChanges = async (): Promise<void> => {
      await withSource(config, (c) => followOn(c));
    };
    const followOn = async (conn: Connection): Promise<void> => {
      const tables = await capturedTables(conn, config.source.database, config.source.tables);
      if (config.source.capture === 'binlog') return followBinlogSchema(conn, tables);
      const statuses = await triggerStatus(conn, tables);
      const changed = statuses.filter((s) => !s.installed || s.drift).map((s) => s.table);
      if (changed.length === 0) return;
      log(
        `run: schema change on ${changed.join(', ')}: regenerating triggers, restarting the Spark job, reloading those tables`,
      );
      await installTriggers(
        conn,
        tables.filter((t) => changed.includes(t.name)),
      );
      const next = await resolvePipeline(config, conn);
      writeJobFile(next.job, jobFile);
      await createTopics(config, next);
      current = next;
      await sup.restart('spark');
      // Rows written between the DDL and the new triggers carry the old shape: reload the table.
      for (const table of changed) await resetSnapshotOf(config, table);
      await snapshotWithRetries(config, next, options.signal, log);
    };

    // Binlog capture needs no trigger swap: every row event carries its columns as written. But an
    // ALTER TABLE rewrites the table's rows without row events (a dropped or renamed column, a new
    // column's default), so a table whose columns changed is reloaded, and a new one loaded, through
    // the snapshot; the Spark job restarts with the new columns.
    const followBinlogSchema = async (conn: Connection, tables: TableSchema[]): Promise<void> => {
      const shape = (t: TableSchema | undefined) => JSON.stringify(t ? [t.columns, t.primaryKey] : null);
      const changed = tables
        .filter((t) => shape(t) !== shape(current.tables.find((c) => c.name === t.name)))
        .map((t) => t.name);
      const dropped = current.tables.some((c) => !tables.some((t) => t.name === c.name));
      if (changed.length === 0 && !dropped) return;
      const added = changed.filter((name) => !current.tables.some((c) => c.name === name));
      log(
        `run: schema change on ${changed.join(', ') || 'the table list'}: restarting the Spark job${added.length ? ' and the capture' : ''}, reloading ${changed.join(', ') || 'nothing'}`,
      );
      const next = await resolvePipeline(config, conn);
      writeJobFile(next.job, jobFile);
      await createTopics(config, next);
      current = next;
      await sup.restart('spark');
      if (added.length > 0) await sup.restart('relay');
      for (const table of changed) await resetSnapshotOf(config, table);
      await snapshotWithRetries(config, next, options.signal, log);
    };

    const outcome = await Promise.race([stopped.then(() => null), failed]);
    if (outcome instanceof Error) throw new RunError(outcome.message);
  } catch (err) {
    throw err instanceof Error ? new RunError(redact(err.message)) : err;
  } finally {
    clearInterval(ddlTimer);
    metricsServer?.close();
    if (supervisor) {
      log('run: stopping the relay (after its batch in flight) and the Spark job');
      await supervisor.stop();
    }
    relayLog.end();
    sparkLog.end();
    if (connOpen) await conn.end().catch(() => undefined);
  }
}
