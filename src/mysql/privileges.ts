// The privileges the syncline MySQL user needs on the captured database, in one place: doctor
// checks them, `run` and `triggers install` name them when one is missing, the demo grants exactly
// these, and docs/capture.md ("Privileges") explains each.
import { quoteId } from './identifiers.ts';

/**
 * SELECT/LOCK TABLES to read and lock rows and tables, INSERT/UPDATE/DELETE on syncline's own
 * tables, CREATE for them, TRIGGER for the capture triggers. LOCK TABLES lets trigger
 * replacement read the table's shape and swap its triggers in one window (decision 0024).
 */
export const SOURCE_PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'TRIGGER',
  'LOCK TABLES',
] as const;

/** `GRANT … ON db.* TO <grantee>`: the fix printed when a privilege is missing. */
export function grantStatement(database: string, grantee = '<the syncline user>'): string {
  return `GRANT ${SOURCE_PRIVILEGES.join(', ')} ON ${quoteId(database)}.* TO ${grantee}`;
}

/**
 * PROCESS (a server-wide privilege) lets the relay read InnoDB's table ids
 * (information_schema.INNODB_SYS_TABLES / INNODB_TABLES), which is how it notices a TRUNCATE, the
 * one statement no trigger sees (decision 0035). Without it TRUNCATE is not captured.
 */
export const GLOBAL_PRIVILEGES = ['PROCESS'] as const;

/** `GRANT PROCESS ON *.* TO <grantee>`. */
export function globalGrantStatement(grantee = '<the syncline user>'): string {
  return `GRANT ${GLOBAL_PRIVILEGES.join(', ')} ON *.* TO ${grantee}`;
}

/**
 * Binlog capture reads as a replica: REPLICATION SLAVE for the binlog dump, REPLICATION CLIENT for
 * SHOW BINARY LOGS / SHOW MASTER STATUS (MariaDB ≥ 10.5 calls it BINLOG MONITOR and prints that
 * name in SHOW GRANTS). On the database it needs no TRIGGER and no LOCK TABLES: SELECT for the
 * catalog and the snapshot, and INSERT/UPDATE/DELETE/CREATE for syncline's own tables.
 */
export const BINLOG_SOURCE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE'] as const;
export const BINLOG_GLOBAL_PRIVILEGES = ['REPLICATION SLAVE', 'REPLICATION CLIENT'] as const;

/** What SHOW GRANTS may print for a binlog privilege (MariaDB renamed REPLICATION CLIENT). */
const BINLOG_GRANT_ALIASES: Record<(typeof BINLOG_GLOBAL_PRIVILEGES)[number], RegExp> = {
  'REPLICATION SLAVE': /\bREPLICATION (SLAVE|REPLICA)\b/,
  'REPLICATION CLIENT': /\b(REPLICATION CLIENT|BINLOG MONITOR)\b/,
};

/** The binlog privileges that SHOW GRANTS text (upper-cased) does not show on *.*. */
export function missingBinlogPrivileges(grantsUpper: string): string[] {
  if (/GRANT ALL PRIVILEGES ON \*\.\*/.test(grantsUpper)) return [];
  const global = grantsUpper
    .split('\n')
    .filter((line) => / ON \*\.\* /.test(line))
    .join('\n');
  return BINLOG_GLOBAL_PRIVILEGES.filter((p) => !BINLOG_GRANT_ALIASES[p].test(global));
}

/** `GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO <grantee>`. */
export function binlogGrantStatement(grantee = '<the syncline user>'): string {
  return `GRANT ${BINLOG_GLOBAL_PRIVILEGES.join(', ')} ON *.* TO ${grantee}`;
}
