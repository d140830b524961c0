// Installing, dropping and inspecting the capture triggers of one database.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { TableSchema } from '../../model/types.ts';
import { readCatalog } from '../../mysql/catalog.ts';
import { isMariaDb } from '../../mysql/connect.ts';
import { quoteId } from '../../mysql/identifiers.ts';
import {
  CHANGELOG_TABLE,
  GENERATOR_VERSION,
  TRIGGER_EVENTS,
  TRIGGER_STATE_TABLE,
  changelogDdl,
  createTriggerSql,
  dropTriggerSql,
  schemaHash,
  triggerName,
  triggerStateDdl,
} from './ddl.ts';

export interface TriggerStatus {
  table: string;
  /** Names of the expected triggers that exist. */
  present: string[];
  /** all three present */
  installed: boolean;
  /** Installed for a different column list or generator version than the table has now. */
  drift: boolean;
  installedHash: string | null;
  currentHash: string;
}

export interface InstallResult {
  table: string;
  action: 'created' | 'regenerated' | 'unchanged';
}

async function useDatabase(conn: Connection, database: string): Promise<void> {
  await conn.query(`USE ${quoteId(database)}`);
}

async function existingTriggers(conn: Connection, database: string): Promise<Set<string>> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?',
    [database],
  );
  return new Set(rows.map((r) => String(r.n)));
}

async function installedHashes(
  conn: Connection,
  database: string,
): Promise<Map<string, { hash: string; version: number }>> {
  const [exists] = await conn.query<RowDataPacket[]>(
    'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, TRIGGER_STATE_TABLE],
  );
  if (exists.length === 0) return new Map();
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT tbl, schema_hash, generator_version FROM ${quoteId(database)}.${quoteId(TRIGGER_STATE_TABLE)}`,
  );
  return new Map(
    rows.map((r) => [String(r.tbl), { hash: String(r.schema_hash), version: Number(r.generator_version) }]),
  );
}

/** Per-table trigger state for the given tables. */
export async function triggerStatus(conn: Connection, tables: TableSchema[]): Promise<TriggerStatus[]> {
  if (tables.length === 0) return [];
  const database = tables[0]!.database;
  const present = await existingTriggers(conn, database);
  const hashes = await installedHashes(conn, database);
  return tables.map((table) => {
    const names = TRIGGER_EVENTS.map((e) => triggerName(table.name, e)).filter((n) => present.has(n));
    const currentHash = schemaHash(table);
    const installedHash = hashes.get(table.name)?.hash ?? null;
    const installed = names.length === TRIGGER_EVENTS.length;
    return {
      table: table.name,
      present: names,
      installed,
      drift: names.length > 0 && installedHash !== currentHash,
      installedHash,
      currentHash,
    };
  });
}

/**
 * Create the changelog and (re)create the triggers of every table whose triggers are missing or
 * drifted. Unchanged tables are left alone, so running it twice is a no-op.
 */
export async function installTriggers(
  conn: Connection,
  tables: TableSchema[],
  options: { force?: boolean } = {},
): Promise<InstallResult[]> {
  if (tables.length === 0) return [];
  const database = tables[0]!.database;
  await useDatabase(conn, database);
  await conn.query(changelogDdl());
  await conn.query(triggerStateDdl());
  const mariadb = await isMariaDb(conn);
  const statuses = await triggerStatus(conn, tables);
  const results: InstallResult[] = [];
  for (const table of tables) {
    const status = statuses.find((s) => s.table === table.name)!;
    if (status.installed && !status.drift && !options.force) {
      results.push({ table: table.name, action: 'unchanged' });
      continue;
    }
    if (mariadb) {
      // CREATE OR REPLACE swaps each trigger atomically: no window in which writes go uncaptured.
      for (const event of TRIGGER_EVENTS) await conn.query(createTriggerSql(table, event, true));
    } else {
      // MySQL has no OR REPLACE for triggers; a write lock keeps writers out during the swap.
      await conn.query(`LOCK TABLES ${quoteId(table.name)} WRITE, ${quoteId(CHANGELOG_TABLE)} WRITE`);
      try {
        for (const event of TRIGGER_EVENTS) {
          await conn.query(dropTriggerSql(table.name, event));
          await conn.query(createTriggerSql(table, event, false));
        }
      } finally {
        await conn.query('UNLOCK TABLES');
      }
    }
    await conn.query(
      `REPLACE INTO ${quoteId(TRIGGER_STATE_TABLE)} (tbl, schema_hash, generator_version) VALUES (?, ?, ?)`,
      [table.name, status.currentHash, GENERATOR_VERSION],
    );
    results.push({ table: table.name, action: status.present.length > 0 ? 'regenerated' : 'created' });
  }
  return results;
}

/** Drop the triggers of the given tables (the changelog and its pending rows are kept). */
export async function dropTriggers(
  conn: Connection,
  database: string,
  tableNames: string[],
): Promise<string[]> {
  await useDatabase(conn, database);
  const dropped: string[] = [];
  const present = await existingTriggers(conn, database);
  for (const name of tableNames) {
    for (const event of TRIGGER_EVENTS) {
      const trigger = triggerName(name, event);
      if (present.has(trigger)) {
        await conn.query(dropTriggerSql(name, event));
        dropped.push(trigger);
      }
    }
  }
  const hashes = await installedHashes(conn, database);
  for (const name of tableNames) {
    if (hashes.has(name))
      await conn.query(`DELETE FROM ${quoteId(TRIGGER_STATE_TABLE)} WHERE tbl = ?`, [name]);
  }
  return dropped;
}

/** Tables that syncline has installed triggers for (from the bookkeeping table). */
export async function installedTables(conn: Connection, database: string): Promise<string[]> {
  return [...(await installedHashes(conn, database)).keys()];
}

/** Catalog of the configured tables, requiring a primary key on each. */
export async function capturedTables(
  conn: Connection,
  database: string,
  tables: string[] | '*',
): Promise<TableSchema[]> {
  return readCatalog(conn, database, { tables, requirePrimaryKey: true });
}
