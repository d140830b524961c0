// Connections to the source MySQL/MariaDB with the settings the rest of the code relies on:
// big numbers and DECIMALs as strings, dates as strings, UTC, utf8mb4.
import mysql from 'mysql2/promise';
import type { Connection, ConnectionOptions, Pool, PoolOptions } from 'mysql2/promise';
import { redact } from '../config/redact.ts';
import { hostOf } from '../config/urls.ts';
import type { Config } from '../config/load.ts';
import { ServiceError, describeNetworkError } from '../errors/registry.ts';

export interface MysqlTarget {
  url: string;
  /** Resolved from a secret reference; never part of the URL in the config file. */
  password?: string | undefined;
  database?: string | undefined;
  /** Only for callers that build every statement themselves (the relay's batched deletes). */
  multipleStatements?: boolean;
}

function baseOptions(target: MysqlTarget): ConnectionOptions {
  const options: ConnectionOptions = {
    uri: target.url,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    dateStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4_unicode_ci',
    multipleStatements: target.multipleStatements ?? false,
    connectTimeout: 10_000,
  };
  if (target.password !== undefined) options.password = target.password;
  if (target.database !== undefined) options.database = target.database;
  return options;
}

function explain(err: unknown, target: MysqlTarget): Error {
  const message = redact(err instanceof Error ? err.message : String(err));
  const code = (err as { code?: unknown }).code;
  const at = hostOf(target.url, '3306');
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR')
    return new ServiceError('SYNCLINE_MYSQL_AUTH', `login refused by ${at}: ${message}`, { cause: err });
  if (code === 'ER_BAD_DB_ERROR')
    return new ServiceError('SYNCLINE_MYSQL_DATABASE', `${message} (server ${at})`, { cause: err });
  const network = describeNetworkError(err);
  if (network)
    return new ServiceError('SYNCLINE_MYSQL_UNREACHABLE', `cannot connect to ${at}: ${network}`, {
      cause: err,
    });
  return new Error(`cannot connect to MySQL at ${redact(target.url)}: ${message}`, { cause: err });
}

export async function connect(target: MysqlTarget): Promise<Connection> {
  try {
    const conn = await mysql.createConnection(baseOptions(target));
    // Session time zone UTC so TIMESTAMP values read by the relay/snapshot are unambiguous.
    await conn.query("SET time_zone = '+00:00'");
    return conn;
  } catch (err) {
    throw explain(err, target);
  }
}

/** A connection to the configured source database (url, resolved password, database). */
export function connectSource(config: Pick<Config, 'source'>): Promise<Connection> {
  return connect({
    url: config.source.url,
    password: config.source.password,
    database: config.source.database,
  });
}

export function createPool(target: MysqlTarget, connectionLimit = 8): Pool {
  const options: PoolOptions = { ...baseOptions(target), connectionLimit, waitForConnections: true };
  const pool = mysql.createPool(options);
  pool.pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00'");
  });
  return pool;
}

/** The server's error number of a mysql2 error (ER_LOCK_DEADLOCK = 1213, …); undefined otherwise. */
export function mysqlErrno(err: unknown): number | undefined {
  const errno = (err as { errno?: unknown }).errno;
  return typeof errno === 'number' ? errno : undefined;
}

/** True for MariaDB (CREATE OR REPLACE TRIGGER, JSON as LONGTEXT), false for MySQL. */
export async function isMariaDb(conn: Connection | Pool): Promise<boolean> {
  const [rows] = await conn.query('SELECT VERSION() AS v');
  return /mariadb/i.test(String((rows as Array<{ v: string }>)[0]?.v));
}
