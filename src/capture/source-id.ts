// The identity of one captured source database. Sinks stamp it on every entry they write, so that
// two sources that map onto the same MongoDB document or Redis key (two servers with the same
// database name, or a key template without {db}) are reported instead of silently comparing
// each other's versions: every source numbers its changes from 1.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { quoteId } from '../mysql/identifiers.ts';

export const SOURCE_TABLE = '_syncline_source';

export interface SourceIdentity {
  /** A UUID generated once per source database and kept in it (survives restarts, not a clone). */
  id: string;
  /** For messages: database@host:port as the server names itself. */
  label: string;
}

/** Stands in for the identity where nothing may be created yet (run before its preflight). */
export const PENDING_SOURCE_ID = 'pending';

/**
 * Reads the source's identity, creating it on first use unless `create` is false (then a source
 * without one gets PENDING_SOURCE_ID, which no sink write may carry). INSERT IGNORE of a fixed
 * single row makes two concurrent first calls agree on one id.
 */
export async function sourceIdentity(
  conn: Connection,
  database: string,
  options: { create?: boolean } = {},
): Promise<SourceIdentity> {
  const table = `${quoteId(database)}.${quoteId(SOURCE_TABLE)}`;
  if (options.create === false) {
    const [exists] = await conn.query<RowDataPacket[]>(
      'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [database, SOURCE_TABLE],
    );
    if (exists.length === 0) return { id: PENDING_SOURCE_ID, label: database };
  }
  await conn.query(
    `CREATE TABLE IF NOT EXISTS ${table} (
  one TINYINT NOT NULL PRIMARY KEY,
  id CHAR(36) CHARACTER SET ascii NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB COMMENT='syncline: this source database''s identity, stamped on every sink entry'`,
  );
  await conn.query(`INSERT IGNORE INTO ${table} (one, id) VALUES (1, UUID())`);
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT id, @@hostname AS host, @@port AS port FROM ${table} WHERE one = 1`,
  );
  const row = rows[0];
  if (!row) throw new Error(`${database}.${SOURCE_TABLE} has no identity row after it was created`);
  return { id: String(row.id), label: `${database}@${String(row.host)}:${String(row.port)}` };
}
