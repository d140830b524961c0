// TRUNCATE TABLE runs no DELETE trigger, so the changelog never hears of the rows it removes. The
// relay notices it instead: InnoDB gives a truncated table a new table id (measured on MariaDB
// 10.11: TRUNCATE and a rebuilding ALTER both do, a plain DML never), and the server counts
// TRUNCATE statements (Com_truncate). See docs/decisions/0035-truncate-through-the-changelog.md.
//
// On a truncate of captured table t the relay writes, in one transaction, a `t` marker row into
// the changelog (its id M orders it after every change of t from before the truncate: those were
// committed before TRUNCATE took its exclusive metadata lock) and resets t's snapshot. The marker
// becomes an `op: "t"` event: sinks drop every entry of t older than M. Rows written into t after
// the truncate but before the marker carry ids below M, so t is reloaded (snapshot `r` events,
// ids above M) to bring those back. Nothing is lost and nothing older than M survives.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';
import { readCatalog } from '../../mysql/catalog.ts';
import { isMariaDb, mysqlErrno } from '../../mysql/connect.ts';
import { quoteId } from '../../mysql/identifiers.ts';
import { globalGrantStatement } from '../../mysql/privileges.ts';
import { SNAPSHOT_TABLE, snapshotStateDdl, snapshotTable } from '../snapshot/snapshot.ts';
import { CHANGELOG_TABLE, TRIGGER_STATE_TABLE } from './ddl.ts';

export const TRUNCATE_STATE_TABLE = '_syncline_truncate';
/** Table ids are compared at least this often, even when no TRUNCATE or ALTER was counted. */
const LOOK_EVERY_MS = 2000;
/**
 * The server counters are read at most this often: the relay calls check() before every batch,
 * and a busy relay runs hundreds of batches a second. Noticing a TRUNCATE later only moves its
 * marker later; the reload brings back whatever was written in between.
 */
const COUNT_EVERY_MS = 100;

export function truncateStateDdl(): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteId(TRUNCATE_STATE_TABLE)} (
  tbl VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  table_id BIGINT UNSIGNED NOT NULL,
  reload TINYINT NOT NULL DEFAULT 0,
  truncates BIGINT UNSIGNED NOT NULL DEFAULT 0,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (tbl)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='syncline: InnoDB table id per captured table, to notice TRUNCATE'`;
}

/**
 * InnoDB names tables `<db>/<table>` in MySQL's file-name encoding: letters, digits and `_` as
 * they are, most other characters as `@` + four hex digits of the code point. Decoded here; the
 * few characters encoded otherwise (some accented letters get two-character codes) are not, so
 * such a table cannot be watched and the caller says so.
 */
export function decodeInnodbName(name: string): string | null {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    if (ch !== '@') {
      out += ch;
      continue;
    }
    const hex = name.slice(i + 1, i + 5);
    if (!/^[0-9a-f]{4}$/.test(hex)) return null;
    out += String.fromCodePoint(parseInt(hex, 16));
    i += 4;
  }
  return out;
}

/** Current InnoDB table id of every table of `database` whose name decodes. */
export async function innodbTableIds(conn: Connection, database: string): Promise<Map<string, string>> {
  const view = (await isMariaDb(conn))
    ? 'information_schema.INNODB_SYS_TABLES'
    : 'information_schema.INNODB_TABLES';
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT NAME AS name, CAST(TABLE_ID AS CHAR) AS id FROM ${view} WHERE NAME LIKE '%/%'`,
  );
  const ids = new Map<string, string>();
  for (const r of rows) {
    const name = String(r.name);
    const slash = name.indexOf('/');
    if (decodeInnodbName(name.slice(0, slash)) !== database) continue;
    const table = decodeInnodbName(name.slice(slash + 1));
    if (table !== null) ids.set(table, String(r.id));
  }
  return ids;
}

/**
 * Records `table`'s current InnoDB id as the one the relay compares against, unless one is
 * recorded already. Trigger installation calls it right after the triggers go in: a TRUNCATE
 * between then and the relay's first look would otherwise become the baseline and its rows (already
 * in the changelog) would never be dropped from the sinks. Without PROCESS the ids cannot be read;
 * the relay says so when it starts, so this stays quiet.
 */
export async function recordTableId(conn: Connection, database: string, table: string): Promise<void> {
  let id: string | undefined;
  try {
    id = (await innodbTableIds(conn, database)).get(table);
  } catch (err) {
    if (mysqlErrno(err) === 1227) return;
    throw err;
  }
  if (id === undefined) return;
  await conn.query(truncateStateDdl());
  await conn.query(`INSERT IGNORE INTO ${quoteId(TRUNCATE_STATE_TABLE)} (tbl, table_id) VALUES (?, ?)`, [
    table,
    id,
  ]);
}

async function counters(conn: Connection): Promise<{ truncate: number; alter: number }> {
  const [rows] = await conn.query<RowDataPacket[]>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_truncate', 'Com_alter_table')",
  );
  const get = (n: string): number => Number(rows.find((r) => r.Variable_name === n)?.Value ?? 0);
  return { truncate: get('Com_truncate'), alter: get('Com_alter_table') };
}

async function tableExists(conn: Connection, database: string, table: string): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, table],
  );
  return rows.length > 0;
}

export interface TruncateWatchOptions {
  log: Logger;
  /** Pause a reload while the changelog holds more rows than this (the relay is behind). */
  maxBacklog?: number;
}

/**
 * Watches the captured tables of one database for TRUNCATE and reloads the truncated ones. Used by
 * the active relay only, on connections of its own: the marker goes in through a separate
 * transaction, and the reload runs beside the drain (the drain is what empties the changelog the
 * reload waits on).
 */
export class TruncateWatch {
  readonly #database: string;
  readonly #log: Logger;
  readonly #maxBacklog: number;
  /** Server counters at the last two looks at the table ids. */
  #looks: { truncate: number; alter: number }[] = [];
  #lastLook = 0;
  #lastCount = 0;
  #unwatchable = new Set<string>();
  /** Set when the user lacks PROCESS: TRUNCATE cannot be noticed, said once, never fatal. */
  #blind = false;
  #reloading: Promise<void> | null = null;
  /** Aborts the reload of a table when a newer TRUNCATE of it is marked. */
  #superseders = new Map<string, AbortController>();
  #stop = new AbortController();

  constructor(database: string, options: TruncateWatchOptions) {
    this.#database = database;
    this.#log = options.log;
    this.#maxBacklog = options.maxBacklog ?? 200_000;
  }

  /**
   * Looks at the table ids when a TRUNCATE or ALTER ran since the last look, every couple of
   * seconds anyway (a table captured since the last look gets its id recorded), and on the first
   * call (which covers the time the relay was down). Returns the tables marked truncated.
   */
  async check(conn: Connection): Promise<string[]> {
    const prev = this.#looks[this.#looks.length - 1];
    if (this.#blind || (prev !== undefined && Date.now() - this.#lastCount < COUNT_EVERY_MS)) return [];
    this.#lastCount = Date.now();
    const now = await counters(conn);
    const due =
      prev === undefined ||
      now.truncate !== prev.truncate ||
      now.alter !== prev.alter ||
      Date.now() - this.#lastLook >= LOOK_EVERY_MS;
    if (!due) return [];
    this.#lastLook = Date.now();
    let marked: string[];
    try {
      marked = await this.#look(conn, now, this.#looks[0] ?? now);
    } catch (err) {
      if (mysqlErrno(err) !== 1227) throw err;
      this.#blind = true;
      this.#log.error(
        { fix: globalGrantStatement() },
        'TRUNCATE TABLE on captured tables will NOT reach the sinks: the syncline user may not read InnoDB table ids (it lacks the PROCESS privilege). Grant it and restart the relay; `syncline doctor` checks it',
      );
      return [];
    }
    this.#looks = [prev ?? now, now];
    return marked;
  }

  async #look(
    conn: Connection,
    now: { truncate: number; alter: number },
    base: { truncate: number; alter: number },
  ): Promise<string[]> {
    if (!(await tableExists(conn, this.#database, TRIGGER_STATE_TABLE))) return [];
    await conn.query(truncateStateDdl());
    const [capturedRows] = await conn.query<RowDataPacket[]>(
      `SELECT tbl FROM ${quoteId(TRIGGER_STATE_TABLE)}`,
    );
    const captured = capturedRows.map((r) => String(r.tbl));
    const current = await innodbTableIds(conn, this.#database);
    const [storedRows] = await conn.query<RowDataPacket[]>(
      `SELECT tbl, CAST(table_id AS CHAR) AS id FROM ${quoteId(TRUNCATE_STATE_TABLE)}`,
    );
    const stored = new Map(storedRows.map((r) => [String(r.tbl), String(r.id)]));
    // A rebuilding ALTER also gives a table a new id. Server counters (bumped when a statement
    // starts, so compared over two looks) tell the two apart when only ALTERs ran; in doubt the
    // table counts as truncated: a needless wipe and reload costs time, never correctness.
    const truncateRan = now.truncate !== base.truncate;
    const alterRan = now.alter !== base.alter;
    const marked: string[] = [];
    for (const table of captured) {
      const id = current.get(table);
      if (id === undefined) {
        if (!this.#unwatchable.has(table) && (await tableExists(conn, this.#database, table))) {
          this.#unwatchable.add(table);
          this.#log.warn(
            { table },
            'cannot watch this table for TRUNCATE: its InnoDB name did not decode (unusual characters) or it is not InnoDB; after a TRUNCATE of it run `syncline snapshot --table <t> --restart`',
          );
        }
        continue;
      }
      const before = stored.get(table);
      if (before === undefined) {
        await conn.query(
          `INSERT IGNORE INTO ${quoteId(TRUNCATE_STATE_TABLE)} (tbl, table_id) VALUES (?, ?)`,
          [table, id],
        );
      } else if (before !== id) {
        if (truncateRan || !alterRan) {
          await this.#mark(conn, table, id);
          marked.push(table);
        } else {
          await conn.query(`UPDATE ${quoteId(TRUNCATE_STATE_TABLE)} SET table_id = ? WHERE tbl = ?`, [
            id,
            table,
          ]);
        }
      }
    }
    return marked;
  }

  async #mark(conn: Connection, table: string, id: string): Promise<void> {
    await conn.query(snapshotStateDdl());
    await conn.query('START TRANSACTION');
    try {
      await conn.query(
        `INSERT INTO ${quoteId(CHANGELOG_TABLE)} (tbl, op, pk, before_image, after_image) VALUES (?, 't', 'null', NULL, NULL)`,
        [table],
      );
      await conn.query(
        `UPDATE ${quoteId(TRUNCATE_STATE_TABLE)} SET table_id = ?, reload = 1, truncates = truncates + 1 WHERE tbl = ?`,
        [id, table],
      );
      await conn.query(`DELETE FROM ${quoteId(SNAPSHOT_TABLE)} WHERE tbl = ?`, [table]);
      await conn.query('COMMIT');
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    this.#superseders.get(table)?.abort();
    this.#log.info(
      { table },
      'TRUNCATE detected: sinks drop the table up to this point, then the table is reloaded',
    );
  }

  /**
   * Starts reloading the tables marked truncated, one after another, unless a reload is already
   * running. `open` gives a fresh connection the reload owns and closes.
   */
  startReloads(open: () => Promise<Connection>): void {
    if (this.#reloading || this.#stop.signal.aborted) return;
    this.#reloading = this.#reload(open)
      .catch((err: Error) => this.#log.error({ err: err.message }, 'reload after TRUNCATE failed; retrying'))
      .finally(() => {
        this.#reloading = null;
      });
  }

  get reloading(): boolean {
    return this.#reloading !== null;
  }

  async #reload(open: () => Promise<Connection>): Promise<void> {
    const conn = await open();
    try {
      for (;;) {
        if (this.#stop.signal.aborted) return;
        const [rows] = await conn.query<RowDataPacket[]>(
          `SELECT tbl, CAST(truncates AS CHAR) AS gen FROM ${quoteId(TRUNCATE_STATE_TABLE)} WHERE reload = 1 ORDER BY tbl LIMIT 1`,
        );
        const table = rows[0] ? String(rows[0].tbl) : null;
        if (table === null) return;
        // The TRUNCATE this reload answers; a newer one (marked while it runs) aborts it.
        const gen = String(rows[0]!.gen);
        const superseded = new AbortController();
        this.#superseders.set(table, superseded);
        const [schema] = await readCatalog(conn, this.#database, {
          tables: [table],
          requirePrimaryKey: true,
        });
        let done = true;
        if (schema) {
          const result = await snapshotTable(conn, schema, {
            maxBacklog: this.#maxBacklog,
            signal: AbortSignal.any([this.#stop.signal, superseded.signal]),
          });
          done = result.done;
          if (done) this.#log.info({ table, rows: result.rowsDone }, 'reloaded after TRUNCATE');
        }
        this.#superseders.delete(table);
        const [now] = await conn.query<RowDataPacket[]>(
          `SELECT CAST(truncates AS CHAR) AS gen FROM ${quoteId(TRUNCATE_STATE_TABLE)} WHERE tbl = ?`,
          [table],
        );
        if (String(now[0]?.gen) !== gen) {
          // Truncated again while it ran: its progress (possibly recorded after the newer marker
          // reset it) must not let the next reload skip keys written since. Start that one over.
          await conn.query(`DELETE FROM ${quoteId(SNAPSHOT_TABLE)} WHERE tbl = ?`, [table]);
          continue;
        }
        if (!done) return;
        // Guarded by the generation: a TRUNCATE marked after the check above keeps its reload.
        await conn.query(
          `UPDATE ${quoteId(TRUNCATE_STATE_TABLE)} SET reload = 0 WHERE tbl = ? AND truncates = ?`,
          [table, gen],
        );
      }
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
  }

  /** Stops a running reload after its chunk in flight (it resumes at the next start). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#reloading;
  }
}

/**
 * True when nothing of a TRUNCATE is still in flight in MySQL: every captured table's id is the
 * one the relay last saw, and no reload is pending. Tests wait on it (with an empty changelog).
 */
export async function truncatesSettled(conn: Connection, database: string): Promise<boolean> {
  if (!(await tableExists(conn, database, TRUNCATE_STATE_TABLE))) return true;
  const current = await innodbTableIds(conn, database);
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT tbl, CAST(table_id AS CHAR) AS id, reload FROM ${quoteId(database)}.${quoteId(TRUNCATE_STATE_TABLE)}`,
  );
  return rows.every((r) => Number(r.reload) === 0 && current.get(String(r.tbl)) === String(r.id));
}
