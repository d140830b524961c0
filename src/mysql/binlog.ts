// The server settings binlog capture depends on, checked in one place: `run` refuses to start
// without them and `doctor` lists them. Each is a setting a reader cannot work around: without row
// events there is nothing to read; without full images an update would lose the columns it did not
// touch; without full metadata the reader would have to guess a row's column names from today's
// schema, which is wrong for every event written before an ALTER TABLE.
import type { Connection, RowDataPacket } from 'mysql2/promise';

export interface BinlogSettingProblem {
  variable: string;
  value: string;
  want: string;
}

/** `variable: wanted value` for every setting binlog capture needs; absent variables are skipped. */
const REQUIRED: Array<{ variable: string; want: string; ok: (value: string) => boolean }> = [
  { variable: 'log_bin', want: 'ON', ok: (v) => v === 'ON' || v === '1' },
  { variable: 'binlog_format', want: 'ROW', ok: (v) => v === 'ROW' },
  { variable: 'binlog_row_image', want: 'FULL', ok: (v) => v === 'FULL' },
  { variable: 'binlog_row_metadata', want: 'FULL', ok: (v) => v === 'FULL' },
  // MySQL 8 only: compressed transactions and partial JSON updates carry no readable row images.
  { variable: 'binlog_transaction_compression', want: 'OFF', ok: (v) => v === 'OFF' || v === '0' },
  { variable: 'binlog_row_value_options', want: "'' (empty)", ok: (v) => v === '' },
];

export async function binlogSettingProblems(conn: Connection): Promise<BinlogSettingProblem[]> {
  const names = REQUIRED.map((r) => `'${r.variable}'`).join(', ');
  const [rows] = await conn.query<RowDataPacket[]>(`SHOW GLOBAL VARIABLES WHERE Variable_name IN (${names})`);
  const values = new Map(rows.map((r) => [String(r.Variable_name), String(r.Value ?? '')]));
  const problems: BinlogSettingProblem[] = [];
  for (const r of REQUIRED) {
    const value = values.get(r.variable);
    // log_bin and binlog_row_metadata must exist; the MySQL-only ones may not.
    if (value === undefined) {
      if (r.variable === 'log_bin' || r.variable === 'binlog_row_metadata')
        problems.push({ variable: r.variable, value: '(not supported by this server)', want: r.want });
      continue;
    }
    if (!r.ok(value)) problems.push({ variable: r.variable, value, want: r.want });
  }
  return problems;
}

/** One line naming every wrong setting, and how to set it (server config file and restart for log_bin). */
export function describeBinlogProblems(problems: BinlogSettingProblem[]): string {
  const list = problems.map((p) => `${p.variable}=${p.value} (needs ${p.want})`).join(', ');
  const dynamic = problems.filter((p) => p.variable !== 'log_bin' && !p.value.startsWith('(not'));
  const howTo = [
    problems.some((p) => p.variable === 'log_bin')
      ? 'enable the binary log (log-bin in the server config, then restart the server)'
      : '',
    dynamic.length > 0
      ? `${dynamic.map((p) => `SET GLOBAL ${p.variable} = ${p.want === "'' (empty)" ? "''" : p.want}`).join('; ')} and put the same in the server config so a restart keeps it`
      : '',
    problems.some((p) => p.value.startsWith('(not'))
      ? 'binlog capture needs MySQL ≥ 8.0 or MariaDB ≥ 10.5 (binlog_row_metadata)'
      : '',
  ].filter(Boolean);
  return `${list}. To fix: ${howTo.join('; ')}`;
}

export interface BinlogCoordinates {
  file: string;
  position: number;
}

/** The number in a binlog file name (mysql-bin.000123 → 123). */
export function binlogFileIndex(file: string): bigint {
  const m = /\.(\d+)$/.exec(file);
  if (!m) throw new Error(`binlog file name ${file} has no numeric suffix`);
  return BigInt(m[1]!);
}

/** Orders binlog coordinates: by the file's number, then the offset in it. */
export function compareCoordinates(a: BinlogCoordinates, b: BinlogCoordinates): number {
  const fa = binlogFileIndex(a.file);
  const fb = binlogFileIndex(b.file);
  return fa !== fb ? (fa < fb ? -1 : 1) : a.position - b.position;
}

/** The server's current end of the binary log (SHOW MASTER STATUS; REPLICATION CLIENT). */
export async function binlogHead(conn: Connection): Promise<BinlogCoordinates | null> {
  const [rows] = await conn.query<RowDataPacket[]>('SHOW MASTER STATUS');
  const row = rows[0];
  return row ? { file: String(row.File), position: Number(row.Position) } : null;
}

/** SHOW BINARY LOGS: the files the server still has, oldest first, with their sizes. */
export async function binaryLogs(conn: Connection): Promise<Array<{ file: string; size: number }>> {
  const [rows] = await conn.query<RowDataPacket[]>('SHOW BINARY LOGS');
  return rows.map((r) => ({ file: String(r.Log_name), size: Number(r.File_size) }));
}

/**
 * Bytes of binary log between a reader's position and the server's head, or null when the
 * reader's file is no longer on the server.
 */
export function bytesBehind(
  logs: Array<{ file: string; size: number }>,
  at: BinlogCoordinates,
): number | null {
  const i = logs.findIndex((f) => f.file === at.file);
  if (i < 0) return null;
  return logs.slice(i).reduce((sum, f, j) => sum + (j === 0 ? Math.max(0, f.size - at.position) : f.size), 0);
}

export async function binlogBytesBehind(conn: Connection, at: BinlogCoordinates): Promise<number | null> {
  return bytesBehind(await binaryLogs(conn), at);
}
