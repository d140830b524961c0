// Commands of the capture half: config, init, triggers, capture (the relay) and demo.
import { createServer } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import pino from 'pino';
import { formatTable } from '../format/table.ts';
import { checkTableSettings, loadConfig, type Config } from '../config/load.ts';
import { redact } from '../config/redact.ts';
import { renderConfigSchema, SCHEMA_FILE } from '../config/json-schema.ts';
import { starterConfig } from '../config/init.ts';
import { connect } from '../mysql/connect.ts';
import { listTables, readCatalog } from '../mysql/catalog.ts';
import { registerDemoCommands } from '../mysql/demo/cli.ts';
import {
  capturedTables,
  dropTriggers,
  installTriggers,
  installedTables,
  triggerStatus,
} from './trigger/install.ts';
import { Relay } from './trigger/relay.ts';
import { captureStatusFile } from './status-file.ts';
import { BinlogReader } from './binlog/reader.ts';
import { applyDdl } from './trigger/apply-ddl.ts';
import { captureMetrics } from './metrics.ts';

interface GlobalFlags {
  config?: string;
  stateDir?: string;
  database?: string;
}

/** Load syncline.yaml with the root options (--config, --state-dir) and a --database override. */
export function configFromCommand(cmd: Command): Config {
  const flags = cmd.optsWithGlobals() as GlobalFlags;
  return loadConfig({
    configPath: flags.config,
    stateDir: flags.stateDir,
    overrides: { database: flags.database },
  });
}

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

async function withSource<T>(
  config: Config,
  fn: (conn: Awaited<ReturnType<typeof connect>>) => Promise<T>,
): Promise<T> {
  const conn = await connect({ url: config.source.url, password: config.source.password });
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

export function registerCaptureCommands(program: Command): void {
  // config
  const configCmd = program.command('config').description('the configuration file (syncline.yaml)');
  configCmd
    .command('schema')
    .description(
      `print the JSON Schema of syncline.yaml (for editor completion), or write it to ${SCHEMA_FILE}`,
    )
    .option('--write', `write ${SCHEMA_FILE} instead of printing`)
    .action((opts: { write?: boolean }) => {
      const text = renderConfigSchema();
      if (opts.write) {
        writeFileSync(SCHEMA_FILE, text);
        print(`wrote ${SCHEMA_FILE}`);
      } else print(text);
    });
  configCmd
    .command('check')
    .description('load and validate the configuration; print it resolved, with secrets hidden')
    .option('--database <name>', 'source database (overrides source.database)')
    .action((_opts, cmd: Command) => {
      const config = configFromCommand(cmd);
      const shown = {
        ...config,
        source: { ...config.source, password: config.source.password ? '***' : undefined },
        kafka: {
          ...config.kafka,
          sasl: config.kafka.sasl ? { ...config.kafka.sasl, password: '***' } : undefined,
          tls: config.kafka.tls ? '(set)' : undefined,
        },
        sinks: {
          mongodb: { ...config.sinks.mongodb, password: config.sinks.mongodb.password ? '***' : undefined },
          redis: { ...config.sinks.redis, password: config.sinks.redis.password ? '***' : undefined },
        },
      };
      print(redact(JSON.stringify(shown, null, 2)));
    });

  // init
  program
    .command('init')
    .description('write a starter syncline.yaml from the MySQL catalog of a database')
    .requiredOption('--database <name>', 'the database to capture')
    .option('--output <file>', 'where to write', 'syncline.yaml')
    .option('--force', 'overwrite an existing file')
    .action(async (opts: { database: string; output: string; force?: boolean }, cmd: Command) => {
      const out = path.resolve(opts.output);
      if (existsSync(out) && !opts.force) throw new Error(`${out} exists; pass --force to overwrite it`);
      // Connection settings come from the existing config (if any) or the local stack.
      const flags = cmd.optsWithGlobals() as GlobalFlags;
      const config = loadConfig({
        configPath: flags.config,
        stateDir: flags.stateDir,
        overrides: { database: opts.database },
      });
      const tables = await withSource(config, async (conn) => {
        const names = await listTables(conn, opts.database);
        return readCatalog(conn, opts.database, { tables: names, requirePrimaryKey: false });
      });
      writeFileSync(out, starterConfig(opts.database, tables));
      const noKey = tables.filter((t) => t.primaryKey.length === 0).map((t) => t.name);
      print(`wrote ${out} (${tables.length} tables)`);
      if (noKey.length > 0) print(`left out (no primary key): ${noKey.join(', ')}`);
    });

  // triggers
  const triggers = program.command('triggers').description('capture triggers on the source tables');
  triggers
    .command('install')
    .description(
      'create the changelog table and the triggers of every captured table; regenerates drifted ones',
    )
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--force', 'recreate triggers even when up to date')
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const results = await withSource(config, async (conn) => {
        const tables = await capturedTables(conn, config.source.database, config.source.tables);
        checkTableSettings(
          config,
          tables.map((t) => t.name),
        );
        return installTriggers(conn, tables, { force: Boolean(opts.force) });
      });
      print(
        formatTable(
          ['TABLE', 'TRIGGERS'],
          results.map((r) => [r.table, r.action]),
        ),
      );
    });
  triggers
    .command('drop')
    .description('drop the capture triggers (the changelog and its pending rows stay)')
    .option('--database <name>', 'source database (overrides source.database)')
    .action(async (_opts, cmd: Command) => {
      const config = configFromCommand(cmd);
      const dropped = await withSource(config, async (conn) => {
        const configured =
          config.source.tables === '*'
            ? await listTables(conn, config.source.database)
            : config.source.tables;
        const installed = await installedTables(conn, config.source.database);
        return dropTriggers(conn, config.source.database, [...new Set([...configured, ...installed])]);
      });
      print(dropped.length ? `dropped ${dropped.length} triggers` : 'no syncline triggers found');
    });
  triggers
    .command('status')
    .description('per table: are the triggers installed, and did the columns change since (drift)')
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const statuses = await withSource(config, async (conn) => {
        const tables = await capturedTables(conn, config.source.database, config.source.tables);
        return triggerStatus(conn, tables);
      });
      if (opts.json) print(JSON.stringify(statuses, null, 2));
      else
        print(
          formatTable(
            ['TABLE', 'INSTALLED', 'DRIFT'],
            statuses.map((s) => [
              s.table,
              s.installed
                ? 'yes'
                : s.present.length
                  ? `partial (${s.present.filter((n) => s.expected.includes(n)).length}/${s.expected.length})`
                  : 'no',
              s.drift ? 'yes: run triggers install' : 'no',
            ]),
          ),
        );
      if (statuses.some((s) => !s.installed || s.drift)) process.exitCode = 2;
    });

  program
    .command('ddl')
    .description(
      'apply one ALTER TABLE to a captured table and swap its triggers under a table lock, so no concurrent write fails',
    )
    .argument('<statement>', 'the ALTER TABLE statement, quoted as one argument')
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--lock-wait <seconds>', 'give up if the table lock cannot be taken within this time', '5')
    .action(async (statement: string, opts: { lockWait: string }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const lockWaitSeconds = /^\d+$/.test(opts.lockWait) ? Number(opts.lockWait) : NaN;
      if (!(lockWaitSeconds >= 1))
        throw new Error(
          `--lock-wait must be a whole number of seconds, at least 1 (got ${JSON.stringify(opts.lockWait)})`,
        );
      const result = await withSource(config, (conn) =>
        applyDdl(conn, config.source, statement, { lockWaitSeconds }),
      );
      const heldMs = result.lockWaitMs + result.lockedMs;
      print(
        `applied to ${result.database}.${result.table}: writers to it waited at most ${heldMs} ms instead of failing (lock taken in ${result.lockWaitMs} ms, held ${result.lockedMs} ms)`,
      );
      if (result.triggers === 'regenerated')
        print(
          `capture triggers regenerated for the columns ${result.columns.join(', ')}; \`syncline run\` restarts the Spark job and reloads ${result.table} within its next schema check (without run: \`syncline triggers install\`, then restart the Spark job)`,
        );
      else print(`${result.table} had no capture triggers, so only the ALTER was applied`);
    });

  // capture
  program
    .command('capture')
    .description(
      'run the capture: the relay drains the changelog into Kafka, or with source.capture: binlog the binlog reader reads the binary log (one active per source; others wait)',
    )
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port')
    .action(async (opts: { metricsPort?: string }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const logger = pino({ name: 'syncline-capture', level: process.env.SYNCLINE_LOG_LEVEL ?? 'info' });
      // The binlog reader takes the relay's lock, so the two can never publish for one database at once.
      if (config.source.capture !== 'binlog') await warnAboutTriggers(config, logger);
      const relay =
        config.source.capture === 'binlog'
          ? new BinlogReader(config, { logger })
          : new Relay(config, { logger });
      const stop = (signal: string) => {
        logger.info({ signal }, 'stopping after the batch in flight');
        relay.stop();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      if (process.env.SYNCLINE_EXIT_WITH_PARENT === '1') {
        // Started by `syncline run`, which holds our stdin open: when it dies, we stop too
        // (an orphaned relay would keep the source lock from the next run's relay).
        process.stdin.on('end', () => stop('parent exited'));
        process.stdin.on('error', () => stop('parent exited'));
        process.stdin.resume();
      }
      let server: ReturnType<typeof createServer> | undefined;
      if (opts.metricsPort) {
        server = createServer((_req, res) => {
          captureMetrics.registry.metrics().then((text) => {
            res.setHeader('content-type', captureMetrics.registry.contentType);
            res.end(text);
          });
        }).listen(Number(opts.metricsPort), '127.0.0.1');
      }
      await relay.run();
      server?.close();
    });

  registerDemoCommands(program, configFromCommand);
}

/**
 * A relay without triggers publishes nothing and says nothing; tell the operator at start which
 * captured tables lack triggers or have drifted. Best effort: the relay itself retries anyway.
 */
async function warnAboutTriggers(config: Config, logger: pino.Logger): Promise<void> {
  try {
    const statuses = await withSource(config, async (conn) =>
      triggerStatus(conn, await capturedTables(conn, config.source.database, config.source.tables)),
    );
    const missing = statuses.filter((s) => !s.installed).map((s) => s.table);
    const drifted = statuses.filter((s) => s.installed && s.drift).map((s) => s.table);
    if (missing.length > 0)
      logger.warn(
        { tables: missing },
        'no capture triggers on these tables: run `syncline triggers install`',
      );
    if (drifted.length > 0)
      logger.warn(
        { tables: drifted },
        'columns changed since the triggers were generated: run `syncline triggers install`',
      );
  } catch (err) {
    logger.warn({ err: redact((err as Error).message) }, 'could not check the capture triggers');
  }
}

/** For `status`: the last state the relay wrote for a database, or null. */
export function readCaptureStatus(stateDir: string, database: string): Record<string, unknown> | null {
  const file = captureStatusFile(stateDir, database);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}
