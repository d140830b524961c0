// Snapshot every table that needs one, with a progress display: a bar per table on a terminal,
// one log line every few seconds otherwise.
import type { Connection } from 'mysql2/promise';
import type { TableSchema } from '../../model/types.ts';
import { resetSnapshot, snapshotState, snapshotTable, type SnapshotProgress } from './snapshot.ts';

export interface SnapshotRunOptions {
  /** Start these tables over from their first key even if a snapshot finished before. */
  restart?: boolean;
  chunkSize?: number;
  maxBacklog?: number;
  signal?: AbortSignal;
  out?: NodeJS.WriteStream;
}

export interface SnapshotSummary {
  table: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  resumedFrom: number;
  skipped: boolean;
}

function bar(p: SnapshotProgress, rate: number): string {
  const total = Math.max(p.rowsEstimate, p.rowsDone, 1);
  const share = p.done ? 1 : Math.min(p.rowsDone / total, 0.99);
  const width = 24;
  const filled = Math.round(share * width);
  const eta = p.done || rate <= 0 ? '' : ` ETA ${Math.max(0, Math.round((total - p.rowsDone) / rate))} s`;
  return `${p.table.padEnd(16).slice(0, 16)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}%  ${p.rowsDone.toLocaleString('en-US')} rows  ${Math.round(rate).toLocaleString('en-US')} rows/s${eta}`;
}

/** Tables whose snapshot has not finished (never started, or interrupted). */
export async function tablesNeedingSnapshot(conn: Connection, tables: TableSchema[]): Promise<TableSchema[]> {
  const out: TableSchema[] = [];
  for (const t of tables) if ((await snapshotState(conn, t.name)).status !== 'done') out.push(t);
  return out;
}

export async function runSnapshots(
  conn: Connection,
  tables: TableSchema[],
  options: SnapshotRunOptions = {},
): Promise<SnapshotSummary[]> {
  const out = options.out ?? process.stderr;
  const tty = Boolean(out.isTTY);
  const summaries: SnapshotSummary[] = [];
  for (const table of tables) {
    if (options.restart) await resetSnapshot(conn, table.name);
    const started = performance.now();
    let lastPrint = 0;
    let startRows: number | null = null;
    const rateOf = (p: SnapshotProgress) => {
      const seconds = (performance.now() - started) / 1000;
      return seconds > 0 ? (p.rowsDone - (startRows ?? p.resumedFrom)) / seconds : 0;
    };
    const result = await snapshotTable(conn, table, {
      ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
      ...(options.maxBacklog !== undefined ? { maxBacklog: options.maxBacklog } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (p) => {
        startRows ??= p.resumedFrom;
        const now = performance.now();
        if (tty && (now - lastPrint > 100 || p.done)) {
          out.write(`\r${bar(p, rateOf(p))}\x1b[K`);
          lastPrint = now;
        } else if (!tty && (now - lastPrint > 5000 || p.done)) {
          out.write(`snapshot: ${bar(p, rateOf(p))}\n`);
          lastPrint = now;
        }
      },
    });
    if (tty) out.write('\n');
    const seconds = (performance.now() - started) / 1000;
    const copied = result.rowsDone - result.resumedFrom;
    summaries.push({
      table: table.name,
      rows: result.rowsDone,
      seconds,
      rowsPerSecond: seconds > 0 ? copied / seconds : 0,
      resumedFrom: result.resumedFrom,
      skipped:
        result.done &&
        result.chunksDone === 0 &&
        copied === 0 &&
        !options.restart &&
        result.resumedFrom === 0 &&
        result.rowsDone > 0,
    });
    if (options.signal?.aborted) break;
  }
  return summaries;
}
