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
