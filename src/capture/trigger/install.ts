// Installing, dropping and inspecting the capture triggers of one database.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { TableSchema } from '../../model/types.ts';
import { listTables, readCatalog, readForeignKeys } from '../../mysql/catalog.ts';
import {
  captureLimitations,
  uncapturedParents,
  type CaptureGraph,
  type CaptureLimitation,
} from './cascade.ts';
import { isMariaDb, mysqlErrno } from '../../mysql/connect.ts';
import { quoteId } from '../../mysql/identifiers.ts';
import { grantStatement } from '../../mysql/privileges.ts';
import { recordTableId } from './truncate.ts';
import { ServiceError } from '../../errors/registry.ts';
import {
  CHANGELOG_TABLE,
  GENERATOR_VERSION,
  TRIGGER_EVENTS,
  TRIGGER_STATE_TABLE,
  cascadePlans,
  changelogDdl,
  createTriggerSql,
  dropTriggerSql,
  schemaHash,
  triggerEventsFor,
  triggerName,
  triggerStateDdl,
} from './ddl.ts';

export interface TriggerStatus {
  table: string;
  /** Names of the triggers the table needs (three, plus a BEFORE one per cascading event). */
  expected: string[];
  /** Names of syncline's triggers on the table that exist. */
  present: string[];
  /** Every trigger the table needs is present (three, plus one per cascading event). */
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

/**
 * The captured tables (those given plus those syncline already has triggers on) and the foreign
 * keys of their database: what the cascade part of a table's triggers is generated from.
 */
export async function captureGraph(
  conn: Connection,
  database: string,
  tables: string[],
): Promise<CaptureGraph> {
  // information_schema, not the bookkeeping table: this runs under LOCK TABLES t WRITE too (install,
  // syncline ddl), where only the locked tables may be read.
  const [withTriggers] = await conn.query<RowDataPacket[]>(
    "SELECT DISTINCT EVENT_OBJECT_TABLE AS t FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME LIKE '\\_syncline\\_%'",
    [database],
  );
  const names = [...new Set([...tables, ...withTriggers.map((r) => String(r.t))])];
  const schemas = await readCatalog(conn, database, { tables: names, requirePrimaryKey: false }).catch(
    // An installed table that was dropped since: capture what still exists.
    async () => {
      const [rows] = await conn.query<RowDataPacket[]>(
        "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
        [database],
      );
      const existing = new Set(rows.map((r) => String(r.t)));
      return readCatalog(conn, database, {
        tables: names.filter((n) => existing.has(n)),
        requirePrimaryKey: false,
      });
    },
  );
  return {
    database,
    captured: new Map(schemas.filter((t) => t.primaryKey.length > 0).map((t) => [t.name, t])),
    foreignKeys: await readForeignKeys(conn, database),
  };
}

/** Per-table trigger state for the given tables. */
export async function triggerStatus(conn: Connection, tables: TableSchema[]): Promise<TriggerStatus[]> {
  if (tables.length === 0) return [];
  const database = tables[0]!.database;
  const present = await existingTriggers(conn, database);
  const hashes = await installedHashes(conn, database);
  const graph = await captureGraph(
    conn,
    database,
    tables.map((t) => t.name),
  );
  return tables.map((table) => {
    const expected = triggerEventsFor(cascadePlans(graph, table.name)).map((e) => triggerName(table.name, e));
    const names = TRIGGER_EVENTS.map((e) => triggerName(table.name, e)).filter((n) => present.has(n));
    const currentHash = schemaHash(table, graph);
    const installedHash = hashes.get(table.name)?.hash ?? null;
    const installed = expected.every((n) => present.has(n));
    return {
      table: table.name,
      expected,
      present: names,
      installed,
      drift: names.length > 0 && installedHash !== currentHash,
      installedHash,
      currentHash,
    };
  });
}

/** ER_DBACCESS_DENIED_ERROR (1044) or ER_TABLEACCESS_DENIED_ERROR (1142). */
function isAccessDenied(err: unknown): boolean {
  const errno = mysqlErrno(err);
  return errno === 1044 || errno === 1142;
}

/**
 * The capture triggers of `table`, for its shape as given and the cascades it starts (`graph`,
 * read here when not given): CREATE OR REPLACE on MariaDB (each swap atomic), DROP + CREATE on
 * MySQL. The caller holds the table lock on MySQL. AFTER triggers are created before the BEFORE
 * ones and BEFORE ones no longer needed are dropped first, so at no moment does a BEFORE trigger
 * leave events that no AFTER trigger moves to the changelog. Returns the schema hash installed.
 */
export async function replaceTriggers(
  conn: Connection,
  table: TableSchema,
  mariadb: boolean,
  graph?: CaptureGraph,
): Promise<string> {
  const g = graph ?? (await captureGraph(conn, table.database, [table.name]));
  const current: CaptureGraph = { ...g, captured: new Map(g.captured).set(table.name, table) };
  const plans = cascadePlans(current, table.name);
  const wanted = triggerEventsFor(plans);
  for (const event of TRIGGER_EVENTS)
    if (!wanted.includes(event) && event.startsWith('before-'))
      await conn.query(dropTriggerSql(table.name, event));
  for (const event of wanted) {
    if (!mariadb) await conn.query(dropTriggerSql(table.name, event));
    await conn.query(createTriggerSql(table, event, mariadb, plans));
  }
  return schemaHash(table, current);
}

/**
 * Create the changelog and (re)create the triggers of every table whose triggers are missing or
 * drifted. Unchanged tables are left alone, so running it twice is a no-op.
 *
 * Each table is locked (`LOCK TABLES t WRITE`) and its shape read again under the lock before its
 * triggers are replaced: the schema passed in may be seconds old (`run` polls), and a
 * `syncline ddl` that changed the table since would otherwise get triggers of the previous shape
 * back, failing writes that name a dropped column (decision 0024). Writers of `t` wait for the few
 * ms this takes instead of failing.
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
  const graph = await captureGraph(
    conn,
    database,
    tables.map((t) => t.name),
  );
  const results: InstallResult[] = [];
  for (const table of tables) {
    const status = statuses.find((s) => s.table === table.name)!;
    if (status.installed && !status.drift && !options.force) {
      results.push({ table: table.name, action: 'unchanged' });
      continue;
    }
    // MariaDB: CREATE OR REPLACE swaps each trigger atomically, and only `t` needs locking (MariaDB
    // locks the changelog for the triggers' use by itself; naming it would stall every captured
    // table and the relay). MySQL has no OR REPLACE for triggers: drop + create, with the
    // changelog locked too as its LOCK TABLES rules require.
    try {
      await conn.query(
        mariadb
          ? `LOCK TABLES ${quoteId(table.name)} WRITE`
          : `LOCK TABLES ${quoteId(table.name)} WRITE, ${quoteId(CHANGELOG_TABLE)} WRITE`,
      );
    } catch (err) {
      if (isAccessDenied(err))
        throw new ServiceError(
          'SYNCLINE_MYSQL_PRIVILEGES',
          `the user may not lock ${database}.${table.name} (${(err as Error).message}); syncline locks a table for the few ms it takes to replace its capture triggers, so that they always match its columns. Nothing was changed; needed: ${grantStatement(database)}`,
          { cause: err },
        );
      throw err;
    }
    let hash: string;
    try {
      const [current] = (await readCatalog(conn, database, {
        tables: [table.name],
        requirePrimaryKey: true,
      })) as [TableSchema];
      hash = await replaceTriggers(conn, current, mariadb, graph);
    } finally {
      await conn.query('UNLOCK TABLES');
    }
    await recordTableId(conn, database, table.name);
    await conn.query(
      `REPLACE INTO ${quoteId(TRIGGER_STATE_TABLE)} (tbl, schema_hash, generator_version) VALUES (?, ?, ?)`,
      [table.name, hash, GENERATOR_VERSION],
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

/**
 * What trigger capture cannot see for these captured tables, by table and constraint (cascades
 * from uncaptured or other-database parents, two cascade paths into one table, cycles past the
 * generated depth). `doctor` lists them; `run` logs them at start.
 */
export async function captureLimitationsOf(
  conn: Connection,
  database: string,
  tables: string[],
): Promise<CaptureLimitation[]> {
  const graph = await captureGraph(conn, database, tables);
  const all = await listTables(conn, database);
  return [...uncapturedParents(graph, all), ...captureLimitations(graph)];
}

/**
 * Captured tables (other than `table`) whose BEFORE triggers read `table` for a cascade: their
 * triggers name its columns, so an ALTER of `table` must replace them too (`syncline ddl`).
 */
export async function cascadeParentsOf(conn: Connection, database: string, table: string): Promise<string[]> {
  const graph = await captureGraph(conn, database, [table]);
  return [...graph.captured.keys()].filter((name) => {
    if (name === table) return false;
    const plans = cascadePlans(graph, name);
    return [...plans.delete.steps, ...plans.update.steps].some((s) => s.reads.includes(table));
  });
}

/**
 * Replace the triggers of `tables` for their current shapes and those of the tables their
 * cascades reach (the caller holds their locks on MySQL); returns the schema hash per table.
 */
export async function refreshTriggers(
  conn: Connection,
  database: string,
  tables: string[],
  mariadb: boolean,
): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  if (tables.length === 0) return hashes;
  const graph = await captureGraph(conn, database, tables);
  for (const name of tables) {
    const schema = graph.captured.get(name);
    if (schema) hashes.set(name, await replaceTriggers(conn, schema, mariadb, graph));
  }
  return hashes;
}

/** Record the installed hash of tables whose triggers were replaced outside installTriggers. */
export async function recordInstalled(conn: Connection, hashes: Map<string, string>): Promise<void> {
  for (const [table, hash] of hashes)
    await conn.query(
      `UPDATE ${quoteId(TRIGGER_STATE_TABLE)} SET schema_hash = ?, generator_version = ? WHERE tbl = ?`,
      [hash, GENERATOR_VERSION, table],
    );
}
