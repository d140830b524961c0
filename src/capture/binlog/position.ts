// Where the binlog reader resumes: the end of the last transaction whose events Kafka has
// acknowledged, kept in the state folder. Written only after the ack, through a temporary file,
// fsync and rename, so a crash leaves either the old or the new position, never a torn one.
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { Connection } from 'mysql2/promise';
import type { Config } from '../../config/load.ts';
import { connect } from '../../mysql/connect.ts';
import { fileSafeName } from '../../model/file-names.ts';
import { binlogHead, type BinlogCoordinates } from '../../mysql/binlog.ts';

export interface BinlogPosition {
  /** Binlog file name, e.g. mysql-bin.000123. */
  file: string;
  /** Offset in that file at a transaction boundary. */
  position: number;
  /** GTID of the last transaction acknowledged, when the server has GTIDs (informational). */
  gtid?: string;
  updatedAt?: string;
}

export function positionFile(config: Pick<Config, 'stateDir' | 'source'>): string {
  return path.join(config.stateDir, `binlog-position-${fileSafeName(config.source.database)}.json`);
}

export async function readBinlogPosition(
  config: Pick<Config, 'stateDir' | 'source'>,
): Promise<BinlogPosition | null> {
  const file = positionFile(config);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<BinlogPosition>;
  if (typeof parsed.file !== 'string' || typeof parsed.position !== 'number')
    throw new Error(`${file} is not a binlog position file (expected {"file": ..., "position": ...})`);
  return parsed as BinlogPosition;
}

export function writeBinlogPosition(
  config: Pick<Config, 'stateDir' | 'source'>,
  position: BinlogPosition,
): void {
  const file = positionFile(config);
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify({ ...position, updatedAt: new Date().toISOString() }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  // The rename itself is durable only once the directory entry is.
  const dir = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

export async function clearBinlogPosition(config: Pick<Config, 'stateDir' | 'source'>): Promise<void> {
  rmSync(positionFile(config), { force: true });
}

/** The server's current end of the binary log; an error when it writes none. */
export async function binlogHeadOf(conn: Connection): Promise<BinlogCoordinates> {
  const head = await binlogHead(conn);
  if (!head)
    throw new Error(
      'the source server writes no binary log (SHOW MASTER STATUS is empty): binlog capture needs log_bin=ON',
    );
  return head;
}

/**
 * The stored position, or the server's head recorded as the start when none is stored yet.
 * `syncline run` calls it before the snapshot: every chunk the snapshot writes afterwards is then
 * after the reader's start, so none can be missed.
 */
export async function ensureBinlogStartPosition(config: Config): Promise<BinlogPosition> {
  const stored = await readBinlogPosition(config);
  if (stored) return stored;
  const conn = await connect({ url: config.source.url, password: config.source.password });
  try {
    const head = await binlogHeadOf(conn);
    writeBinlogPosition(config, head);
    return head;
  } finally {
    await conn.end().catch(() => undefined);
  }
}
