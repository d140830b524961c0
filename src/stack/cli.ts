import type { Command } from 'commander';
import { formatTable } from '../format/table.ts';
import { StackError } from './errors.ts';
import { resolveStackOptions, type StackFlags } from './options.ts';
import { stackDown, stackStatus, stackUp, stackUrlsFile } from './stack.ts';
import type { ServiceStatus } from './types.ts';

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function table(rows: ServiceStatus[]): string {
  return formatTable(
    ['SERVICE', 'STATE', 'PID', 'URL', 'DATA'],
    rows.map((r) => [r.name, r.state, r.pid === null ? '-' : String(r.pid), r.url, formatBytes(r.dataBytes)]),
  );
}

function withPortOptions(cmd: Command): Command {
  return cmd
    .option('--mysql-port <port>', 'MariaDB port (default 13306, env SYNCLINE_MYSQL_PORT)')
    .option('--kafka-port <port>', 'Kafka broker port (default 19092, env SYNCLINE_KAFKA_PORT)')
    .option('--kafka-controller-port <port>', 'Kafka KRaft controller port (default 19093)')
    .option('--mongodb-port <port>', 'MongoDB stand-in port (default 37017, env SYNCLINE_MONGODB_PORT)')
    .option('--redis-port <port>', 'Redis port (default 16379, env SYNCLINE_REDIS_PORT)')
    .option(
      '--cluster-base-port <port>',
      'first port of the extra brokers and the Spark cluster (default 19200, env SYNCLINE_CLUSTER_BASE_PORT)',
    )
    .option(
      '--spark-workers <n>',
      'Spark standalone workers, plus a master (default 0: the job runs in local mode)',
    )
    .option(
      '--spark-worker-cores <n>',
      'task slots per worker; real-time mode needs one per Kafka partition of every query (default 32)',
    )
    .option('--spark-worker-memory <size>', 'memory per worker for its executors (default 2g)')
    .option(
      '--kafka-brokers <n>',
      'KRaft brokers (default 1); with 3 or more, topics get replication factor 3',
    )
    .option('--only <services>', 'comma-separated subset: mariadb,kafka,mongodb,redis,spark (default: all)');
}

function flagsOf(cmd: Command): StackFlags {
  return cmd.optsWithGlobals() as StackFlags;
}

function fail(err: unknown, json: boolean): never {
  const code = err instanceof StackError ? err.code : 'STACK_ERROR';
  const message = err instanceof Error ? err.message : String(err);
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, code, message }, null, 2)}\n`);
  else process.stderr.write(`stack: ${message}\n`);
  process.exit(1);
}

export function registerStackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description(
      'the local stack: MariaDB, Kafka, a MongoDB stand-in and Redis as plain processes (optionally a Spark standalone cluster and more Kafka brokers)',
    );

  withPortOptions(
    stack
      .command('up')
      .description('start the local services (idempotent) and wait until each answers')
      .option('--json', 'print the result as JSON')
      .option('--start-timeout <seconds>', 'how long to wait for each service to become healthy', '120'),
  ).action(async (_opts, cmd: Command) => {
    const flags = flagsOf(cmd);
    const json = Boolean((flags as { json?: boolean }).json);
    try {
      const opts = resolveStackOptions(flags);
      const t0 = Date.now();
      const result = await stackUp(
        opts,
        json ? () => {} : (line) => process.stderr.write(`stack: ${line}\n`),
      );
      const seconds = (Date.now() - t0) / 1000;
      if (json) {
        process.stdout.write(`${JSON.stringify({ ok: true, seconds, ...result }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${table(result.services)}\n\n`);
      process.stdout.write(
        `Ready in ${seconds.toFixed(1)} s. Connection URLs (also in ${stackUrlsFile(opts.stateDir)}):\n`,
      );
      process.stdout.write(`  MySQL    ${result.urls.mysql}\n  Kafka    ${result.urls.kafka}\n`);
      process.stdout.write(`  MongoDB  ${result.urls.mongodb}\n  Redis    ${result.urls.redis}\n`);
      if (result.urls.spark)
        process.stdout.write(
          `  Spark    ${result.urls.spark.master} (state: ${result.urls.spark.statusUrl})\n`,
        );
    } catch (err) {
      fail(err, json);
    }
  });

  withPortOptions(
    stack
      .command('down')
      .description('stop the processes this stack started (data is kept)')
      .option('--json', 'print the result as JSON'),
  ).action(async (_opts, cmd: Command) => {
    const flags = flagsOf(cmd);
    const json = Boolean((flags as { json?: boolean }).json);
    try {
      const result = await stackDown(
        resolveStackOptions(flags),
        json ? () => {} : (l) => process.stderr.write(`stack: ${l}\n`),
      );
      if (json) process.stdout.write(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
      else if (result.stopped.length === 0)
        process.stdout.write('Nothing to stop: no service of this stack is running.\n');
      else
        process.stdout.write(
          `Stopped ${result.stopped.map((s) => `${s.name} (pid ${s.pid})`).join(', ')}.\n`,
        );
    } catch (err) {
      fail(err, json);
    }
  });

  withPortOptions(
    stack
      .command('status')
      .description("each service's URL, pid, state and data size")
      .option('--json', 'print the result as JSON'),
  ).action(async (_opts, cmd: Command) => {
    const flags = flagsOf(cmd);
    const json = Boolean((flags as { json?: boolean }).json);
    try {
      const services = await stackStatus(resolveStackOptions(flags));
      if (json) process.stdout.write(`${JSON.stringify({ ok: true, services }, null, 2)}\n`);
      else process.stdout.write(`${table(services)}\n`);
    } catch (err) {
      fail(err, json);
    }
  });
}
