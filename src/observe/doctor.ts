// `syncline doctor`: checks everything the pipeline needs — the source's privileges, binlog
// settings, trigger state, primary keys, and that Kafka, MongoDB, Redis and Java answer — and says
// what to fix for each problem. Never changes anything.
import { spawnSync } from 'node:child_process';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/load.ts';
import { redact } from '../config/redact.ts';
import { captureLimitationsOf, installedTables, triggerStatus } from '../capture/trigger/install.ts';
import { binlogCascadeWarnings, readBinlogPosition } from '../capture/binlog/index.ts';
import { binlogBytesBehind, binlogSettingProblems, describeBinlogProblems } from '../mysql/binlog.ts';
import { listTables, readCatalog } from '../mysql/catalog.ts';
import { connect, mysqlErrno } from '../mysql/connect.ts';
import { javaBinary } from '../stack/jvm.ts';
import { ServiceError } from '../errors/registry.ts';
import { probeKafka, probeMongo, probeRedis } from './probes.ts';
import {
  BINLOG_GLOBAL_PRIVILEGES,
  BINLOG_SOURCE_PRIVILEGES,
  SOURCE_PRIVILEGES,
  binlogGrantStatement,
  globalGrantStatement,
  grantStatement,
  missingBinlogPrivileges,
} from '../mysql/privileges.ts';
import { innodbTableIds } from '../capture/trigger/truncate.ts';

export type CheckState = 'ok' | 'warn' | 'fail';

export interface Check {
  area: 'source' | 'kafka' | 'mongodb' | 'redis' | 'spark';
  name: string;
  state: CheckState;
  detail: string;
  fix?: string;
}

const message = (err: unknown) => redact(err instanceof Error ? err.message : String(err));

async function sourceChecks(config: Config, out: Check[]): Promise<void> {
  let conn: Connection;
  try {
    conn = await connect({ url: config.source.url, password: config.source.password });
  } catch (err) {
    out.push({
      area: 'source',
      name: 'reachable',
      state: 'fail',
      detail: message(err),
      fix: 'check source.url (host, port, user) and the password reference (source.password / passwordFile)',
    });
    return;
  }
  try {
    const [version] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
    out.push({
      area: 'source',
      name: 'reachable',
      state: 'ok',
      detail: `${redact(config.source.url)} (${String(version[0]?.v)})`,
    });

    const [dbs] = await conn.query<RowDataPacket[]>(
      'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
      [config.source.database],
    );
    if (dbs.length === 0) {
      out.push({
        area: 'source',
        name: 'database',
        state: 'fail',
        detail: `database ${config.source.database} does not exist or is not visible`,
        fix: 'set source.database, or grant the user access to it',
      });
      return;
    }

    const [grants] = await conn.query<RowDataPacket[]>('SHOW GRANTS');
    const text = grants
      .map((g) => String(Object.values(g)[0]))
      .join('\n')
      .toUpperCase();
    const binlog = config.source.capture === 'binlog';
    const all = /GRANT ALL PRIVILEGES ON (\*\.\*|`?[^ ]+`?\.\*)/.test(text);
    const needed: readonly string[] = binlog ? BINLOG_SOURCE_PRIVILEGES : SOURCE_PRIVILEGES;
    const missing = all ? [] : needed.filter((p) => !new RegExp(`\\b${p}\\b`).test(text));
    out.push(
      missing.length === 0
        ? {
            area: 'source',
            name: 'privileges',
            state: 'ok',
            detail: all ? 'ALL PRIVILEGES' : needed.join(', '),
          }
        : {
            area: 'source',
            name: 'privileges',
            state: 'fail',
            detail: `missing ${missing.join(', ')}`,
            fix: binlog
              ? `GRANT ${BINLOG_SOURCE_PRIVILEGES.join(', ')} ON ${config.source.database}.* TO <the syncline user>`
              : grantStatement(config.source.database),
          },
    );
    if (binlog) {
      const lacking = missingBinlogPrivileges(text);
      out.push(
        lacking.length === 0
          ? {
              area: 'source',
              name: 'replication privileges',
              state: 'ok',
              detail: BINLOG_GLOBAL_PRIVILEGES.join(', '),
            }
          : {
              area: 'source',
              name: 'replication privileges',
              state: 'fail',
              detail: `missing ${lacking.join(', ')}: the binlog reader cannot read the binary log`,
              fix: binlogGrantStatement(),
            },
      );
    }

    // TRUNCATE runs no trigger; the relay notices it by InnoDB's table ids, which need PROCESS.
    // The binlog carries TRUNCATE as a statement.
    if (!binlog)
      try {
        await innodbTableIds(conn, config.source.database);
        out.push({
          area: 'source',
          name: 'truncate capture',
          state: 'ok',
          detail: 'InnoDB table ids readable: TRUNCATE TABLE reaches the sinks (decision 0035)',
        });
      } catch (err) {
        if (mysqlErrno(err) !== 1227) throw err;
        out.push({
          area: 'source',
          name: 'truncate capture',
          state: 'warn',
          detail:
            'the user lacks PROCESS, so the relay cannot notice TRUNCATE TABLE: truncated rows would stay in MongoDB and Redis',
          fix: globalGrantStatement(),
        });
      }

    const [vars] = await conn.query<RowDataPacket[]>(
      "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'log_bin_trust_function_creators')",
    );
    const v = Object.fromEntries(vars.map((r) => [String(r.Variable_name), String(r.Value)]));
    const binlogProblems = await binlogSettingProblems(conn);
    out.push({
      area: 'source',
      name: 'binlog',
      state: binlogProblems.length === 0 ? 'ok' : binlog ? 'fail' : 'warn',
      detail:
        binlogProblems.length === 0
          ? 'row events with full images and full metadata'
          : `${binlogProblems.map((p) => `${p.variable}=${p.value}`).join(', ')}${binlog ? '' : ' (only binlog capture needs these)'}`,
      ...(binlogProblems.length === 0
        ? {}
        : { fix: describeBinlogProblems(binlogProblems).replace(/^.*To fix: /, '') }),
    });
    if (binlog) {
      const position = await readBinlogPosition(config);
      if (position) {
        const behind = await binlogBytesBehind(conn, position).catch(() => null);
        out.push(
          behind === null
            ? {
                area: 'source',
                name: 'binlog position',
                state: 'fail',
                detail: `the reader's position ${position.file}:${position.position} is no longer on the server (purged)`,
                fix: 'changes since then are lost to binlog capture: remove the binlog position file in the state folder and re-snapshot with `syncline snapshot --restart` (docs/capture.md, "Binlog retention")',
              }
            : {
                area: 'source',
                name: 'binlog position',
                state: 'ok',
                detail: `${position.file}:${position.position}, ${behind.toLocaleString('en-US')} bytes behind the server`,
              },
        );
      }
    }
    if (
      !binlog &&
      v.log_bin === 'ON' &&
      v.log_bin_trust_function_creators !== 'ON' &&
      !text.includes('SUPER') &&
      !all
    ) {
      out.push({
        area: 'source',
        name: 'trigger creation',
        state: 'fail',
        detail:
          'binary logging is on, the user lacks SUPER and log_bin_trust_function_creators is OFF: CREATE TRIGGER will be refused',
        fix: 'SET GLOBAL log_bin_trust_function_creators = 1 (safe with row-based binlog), or grant SUPER',
      });
    }

    const names =
      config.source.tables === '*' ? await listTables(conn, config.source.database) : config.source.tables;
    const all_ = await readCatalog(conn, config.source.database, { tables: names, requirePrimaryKey: false });
    const noKey = all_.filter((t) => t.primaryKey.length === 0).map((t) => t.name);
    if (noKey.length > 0) {
      out.push({
        area: 'source',
        name: 'primary keys',
        state: 'fail',
        detail: `no primary key: ${noKey.join(', ')}`,
        fix: 'add a primary key, or leave these tables out of source.tables',
      });
    } else {
      out.push({
        area: 'source',
        name: 'primary keys',
        state: 'ok',
        detail: `${all_.length} tables, each with a primary key`,
      });
    }
    const withKey = all_.filter((t) => t.primaryKey.length > 0);
    if (withKey.length > 0 && config.source.capture === 'trigger') {
      // Statement forms trigger capture cannot see on this schema (docs/capture.md): each by
      // table and constraint, with what to do.
      const limits = await captureLimitationsOf(
        conn,
        config.source.database,
        withKey.map((t) => t.name),
      );
      for (const l of limits)
        out.push({
          area: 'source',
          name: `capture of ${l.table}`,
          state: l.state,
          detail: `${l.constraint}: ${l.detail}`,
          fix: l.fix,
        });
      if (limits.length === 0)
        out.push({
          area: 'source',
          name: 'capture exactness',
          state: 'ok',
          detail:
            'every statement form is captured on these tables, foreign-key cascades included (docs/capture.md)',
        });
    }
    if (withKey.length > 0 && binlog) {
      const warnings = await binlogCascadeWarnings(conn, config);
      for (const w of warnings)
        out.push({ area: 'source', name: 'capture exactness', state: 'warn', detail: w });
      const triggered = await installedTables(conn, config.source.database);
      if (triggered.length > 0)
        out.push({
          area: 'source',
          name: 'triggers',
          state: 'warn',
          detail: `trigger capture is still installed on ${triggered.join(', ')}`,
          fix: '`syncline run` with source.capture: binlog switches over: it records the binlog position, drops the triggers and publishes what they captured (docs/capture.md, "Switching capture modes")',
        });
    }
    if (withKey.length > 0 && !binlog) {
      const statuses = await triggerStatus(conn, withKey);
      const absent = statuses.filter((s) => !s.installed).map((s) => s.table);
      const drift = statuses.filter((s) => s.installed && s.drift).map((s) => s.table);
      out.push(
        absent.length + drift.length === 0
          ? {
              area: 'source',
              name: 'triggers',
              state: 'ok',
              detail: `installed and current on ${statuses.length} tables`,
            }
          : {
              area: 'source',
              name: 'triggers',
              state: 'warn',
              detail: [
                absent.length ? `not installed: ${absent.join(', ')}` : '',
                drift.length ? `columns changed since install: ${drift.join(', ')}` : '',
              ]
                .filter(Boolean)
                .join('; '),
              fix: '`syncline triggers install` (or `syncline run`, which installs and refreshes them)',
            },
      );
    }
  } catch (err) {
    out.push({ area: 'source', name: 'catalog', state: 'fail', detail: message(err) });
  } finally {
    await conn.end().catch(() => undefined);
  }
}

// The same probes `run` waits on before it starts (src/pipeline/preflight.ts), reported instead.
const failure = (err: unknown) => (err instanceof ServiceError ? err.detail : message(err));

async function kafkaCheck(config: Config, out: Check[]): Promise<void> {
  try {
    const brokers = await probeKafka(config);
    out.push({
      area: 'kafka',
      name: 'reachable',
      state: 'ok',
      detail: `${config.kafka.brokers.join(',')} (${brokers} broker${brokers === 1 ? '' : 's'})`,
    });
  } catch (err) {
    out.push({
      area: 'kafka',
      name: 'reachable',
      state: 'fail',
      detail: `${config.kafka.brokers.join(',')}: ${failure(err)}`,
      fix: 'check kafka.brokers, and kafka.tls / kafka.sasl for a secured cluster',
    });
  }
}

async function mongoCheck(config: Config, out: Check[]): Promise<void> {
  try {
    await probeMongo(config);
    out.push({
      area: 'mongodb',
      name: 'reachable',
      state: 'ok',
      detail: `${redact(config.sinks.mongodb.url)}, database ${config.sinks.mongodb.database}`,
    });
  } catch (err) {
    out.push({
      area: 'mongodb',
      name: 'reachable',
      state: 'fail',
      detail: failure(err),
      fix: 'check sinks.mongodb.url and its password reference',
    });
  }
}

async function redisCheck(config: Config, out: Check[]): Promise<void> {
  try {
    await probeRedis(config);
    out.push({ area: 'redis', name: 'reachable', state: 'ok', detail: redact(config.sinks.redis.url) });
  } catch (err) {
    out.push({
      area: 'redis',
      name: 'reachable',
      state: 'fail',
      detail: failure(err),
      fix: 'check sinks.redis.url and its password reference',
    });
  }
}

function sparkCheck(out: Check[]): void {
  const r = spawnSync(javaBinary(), ['-version'], { encoding: 'utf8' });
  const line = (r.stderr ?? '').split('\n')[0] ?? '';
  const major = Number(/version "(\d+)/.exec(line)?.[1] ?? 0);
  if (r.status !== 0 || major < 17) {
    out.push({
      area: 'spark',
      name: 'java',
      state: 'fail',
      detail: r.error ? r.error.message : line || 'no java',
      fix: 'install Java 17 or newer (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME',
    });
  } else {
    out.push({ area: 'spark', name: 'java', state: 'ok', detail: line });
  }
}

export async function doctor(config: Config): Promise<Check[]> {
  const out: Check[] = [];
  await sourceChecks(config, out);
  await Promise.all([kafkaCheck(config, out), mongoCheck(config, out), redisCheck(config, out)]);
  sparkCheck(out);
  return out;
}

export function formatChecks(checks: Check[]): string {
  const mark: Record<CheckState, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };
  const lines = checks.map(
    (c) => `${mark[c.state]}  ${c.area} ${c.name}: ${c.detail}${c.fix ? `\n      fix: ${c.fix}` : ''}`,
  );
  const failed = checks.filter((c) => c.state === 'fail').length;
  lines.push(failed === 0 ? 'All checks passed.' : `${failed} check(s) failed.`);
  return lines.join('\n');
}
