// The initial load. Each chunk of rows is copied into the changelog as `r` events by one
// INSERT ... SELECT of the rows it has share-locked, in the same transaction that
// records the chunk as done. See docs/decisions/0004-snapshot-through-the-changelog.md for why that
// places every snapshot row correctly among the row's changes (invariant 5) and makes the
// snapshot resumable chunk by chunk.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { TableSchema } from '../../model/types.ts';
import { keyColumns } from '../../model/types.ts';
import { keyExpression, rowImageExpression } from '../../model/row-image-sql.ts';
import { mysqlErrno } from '../../mysql/connect.ts';
import { quoteId, quoteString } from '../../mysql/identifiers.ts';
import { afterKeyParams, keyInList, keyPredicate, keyRead } from '../../mysql/keyset.ts';
import { CHANGELOG_TABLE } from '../trigger/ddl.ts';

export const SNAPSHOT_TABLE = '_syncline_snapshot';

/**
 * Rows per chunk transaction. Writers of a chunk's rows wait for it, and a writer transaction
 * that holds one of its rows while wanting another can deadlock with it: measured against
 * back-to-back snapshots, 7.1 % of two-row transactions failed at 5,000 rows, 0.03 % at 1,000,
 * for 16 % less snapshot speed (still ~40× what the Spark job applies). Decision 0004.
 */
export const DEFAULT_CHUNK_ROWS = 1000;

export function snapshotStateDdl(): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteId(SNAPSHOT_TABLE)} (
  tbl VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  status ENUM('running', 'done') NOT NULL,
  last_key LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  rows_done BIGINT UNSIGNED NOT NULL DEFAULT 0,
  chunks_done BIGINT UNSIGNED NOT NULL DEFAULT 0,
  started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  finished_at TIMESTAMP(6) NULL,
  PRIMARY KEY (tbl)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='syncline: snapshot progress per table (resumable)'`;
}

export interface SnapshotProgress {
  table: string;
  rowsDone: number;
  chunksDone: number;
  /** information_schema's estimate; exact once the table is done. */
  rowsEstimate: number;
  done: boolean;
  resumedFrom: number;
}

export interface SnapshotOptions {
  chunkSize?: number;
  /** Pause while the changelog holds more than this many rows (the relay is behind). */
  maxBacklog?: number;
  onProgress?: (p: SnapshotProgress) => void;
  signal?: AbortSignal;
}

export interface TableSnapshotState {
  status: 'running' | 'done' | 'none';
  rowsDone: number;
  lastKey: unknown[] | null;
}

export async function snapshotState(conn: Connection, table: string): Promise<TableSnapshotState> {
  await conn.query(snapshotStateDdl());
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT status, last_key, rows_done FROM ${quoteId(SNAPSHOT_TABLE)} WHERE tbl = ?`,
    [table],
  );
  const row = rows[0];
  if (!row) return { status: 'none', rowsDone: 0, lastKey: null };
  return {
    status: row.status as 'running' | 'done',
    rowsDone: Number(row.rows_done),
    lastKey: row.last_key === null ? null : (JSON.parse(String(row.last_key)) as unknown[]),
  };
}

/** Forget a table's snapshot so the next one starts from its first key. */
/**
 * Start a table's snapshot over from its first key. It is marked running at once, not forgotten:
 * `verify --wait` waits for running snapshots, and a reload must not look finished before it began.
 */
export async function resetSnapshot(conn: Connection, table: string): Promise<void> {
  await conn.query(snapshotStateDdl());
  await conn.query(
    `INSERT INTO ${quoteId(SNAPSHOT_TABLE)} (tbl, status, rows_done) VALUES (?, 'running', 0)
     ON DUPLICATE KEY UPDATE status = 'running', last_key = NULL, rows_done = 0, chunks_done = 0,
       started_at = CURRENT_TIMESTAMP(6), finished_at = NULL`,
    [table],
  );
}

/** Tables whose snapshot (or reload) has started and not finished. */
export async function runningSnapshots(conn: Connection, database: string): Promise<string[]> {
  const [exists] = await conn.query<RowDataPacket[]>(
    'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, SNAPSHOT_TABLE],
  );
  if (exists.length === 0) return [];
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT tbl FROM ${quoteId(database)}.${quoteId(SNAPSHOT_TABLE)} WHERE status = 'running' ORDER BY tbl`,
  );
  return rows.map((r) => String(r.tbl));
}

async function changelogBacklog(conn: Connection): Promise<number> {
  // MAX - MIN over the primary key is two index dives; COUNT(*) would scan the table.
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT COALESCE(MAX(id) - MIN(id) + 1, 0) AS n FROM ${quoteId(CHANGELOG_TABLE)}`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** ER_LOCK_DEADLOCK (1213) or ER_LOCK_WAIT_TIMEOUT (1205). */
function isLockConflict(err: unknown): boolean {
  const errno = mysqlErrno(err);
  return errno === 1213 || errno === 1205;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Snapshot one table into the changelog, resuming after the last finished chunk. Requires the
 * capture triggers (and so the changelog table) to be installed. Returns the final progress.
 */
export async function snapshotTable(
  conn: Connection,
  table: TableSchema,
  options: SnapshotOptions = {},
): Promise<SnapshotProgress> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_ROWS;
  const maxBacklog = options.maxBacklog ?? 200_000;
  const keys = keyColumns(table);
  const tableRef = `${quoteId(table.database)}.${quoteId(table.name)}`;
  const orderBy = keys.map((k) => quoteId(k.name)).join(', ');

  await conn.query(snapshotStateDdl());
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
  const state = await snapshotState(conn, table.name);
  const [estimateRows] = await conn.query<RowDataPacket[]>(
    'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [table.database, table.name],
  );
  const progress: SnapshotProgress = {
    table: table.name,
    rowsDone: state.rowsDone,
    chunksDone: 0,
    rowsEstimate: Number(estimateRows[0]?.n ?? 0),
    done: state.status === 'done',
    resumedFrom: state.status === 'running' ? state.rowsDone : 0,
  };
  if (progress.done) return progress;
  if (state.status === 'none') {
    await conn.query(
      `INSERT INTO ${quoteId(SNAPSHOT_TABLE)} (tbl, status, rows_done) VALUES (?, 'running', 0)`,
      [table.name],
    );
  }
  let lastKey = state.lastKey;

  let lockRetries = 0;
  while (!options.signal?.aborted) {
    while (maxBacklog > 0 && (await changelogBacklog(conn)) > maxBacklog && !options.signal?.aborted) {
      await sleep(200);
    }
    await conn.beginTransaction();
    try {
      // 1. Find and share-lock the chunk's keys. A writer holding one of these rows makes us wait
      //    until it commits (its change then precedes ours in the changelog); a writer arriving
      //    after us waits for our commit (its change follows ours).
      const where = lastKey === null ? '' : `WHERE ${keyPredicate(keys)}`;
      const [keyRows] = await conn.query<RowDataPacket[]>({
        sql: `SELECT ${keys.map((k, i) => `${keyRead(k)} AS k${i}`).join(', ')} FROM ${tableRef} ${where}
              ORDER BY ${orderBy} LIMIT ${chunkSize} LOCK IN SHARE MODE`,
        values: lastKey === null ? [] : afterKeyParams(lastKey),
      });
      if (keyRows.length === 0) {
        await conn.query(
          `UPDATE ${quoteId(SNAPSHOT_TABLE)} SET status = 'done', finished_at = CURRENT_TIMESTAMP(6) WHERE tbl = ?`,
          [table.name],
        );
        await conn.commit();
        progress.done = true;
        progress.rowsEstimate = progress.rowsDone;
        options.onProgress?.(progress);
        return progress;
      }
      const chunkEnd = keys.map((_, i) => keyRows[keyRows.length - 1]![`k${i}`]);
      // 2. Copy the locked rows' images into the changelog as `r` events, in key order. Only the
      //    keys locked in step 1, never the range: a row inserted into the range since then may
      //    still be locked by its writer, and this statement holds the changelog's AUTO-INC lock,
      //    which that writer's trigger needs next. Waiting for it here was a deadlock in which
      //    InnoDB chose the writer, whose INSERT failed (errno 1467; decision 0004). That row's
      //    own `c` event carries it downstream.
      const [inserted] = await conn.query<RowDataPacket[]>({
        sql: `INSERT INTO ${quoteId(CHANGELOG_TABLE)} (tbl, op, pk, before_image, after_image)
              SELECT ${quoteString(table.name)}, 'r', ${keyExpression(table, null)}, NULL, ${rowImageExpression(table, null)}
              FROM ${tableRef} WHERE ${keyInList(keys, keyRows.length)} ORDER BY ${orderBy} LOCK IN SHARE MODE`,
        values: keyRows.flatMap((row) => keys.map((_, i) => row[`k${i}`])),
      });
      const copied = Number((inserted as unknown as { affectedRows: number }).affectedRows);
      // 3. Record the chunk in the same transaction: a crash either keeps both or neither.
      await conn.query(
        `UPDATE ${quoteId(SNAPSHOT_TABLE)} SET last_key = ?, rows_done = rows_done + ?, chunks_done = chunks_done + 1 WHERE tbl = ?`,
        [JSON.stringify(chunkEnd), copied, table.name],
      );
      await conn.commit();
      lastKey = chunkEnd;
      progress.rowsDone += copied;
      progress.chunksDone += 1;
      options.onProgress?.(progress);
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      // A writer and the chunk's shared locks can deadlock; the server rolled the chunk back
      // whole, so it is simply read again.
      if (isLockConflict(err) && lockRetries < 100) {
        lockRetries += 1;
        await sleep(20 * Math.min(lockRetries, 10));
        continue;
      }
      throw err;
    }
    lockRetries = 0;
  }
  return progress;
}
