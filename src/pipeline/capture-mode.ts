// What `run` does to the source before it starts the capture child, per capture mode, including a
// switch from trigger capture to binlog capture on a running installation (decision 0071).
//
// Why a switch loses nothing and keeps every row's order: trigger capture versions a change with
// its changelog id, binlog capture with its binlog position (fileIndex × 2^32 + offset, see
// contract/README.md). The binlog start position is recorded before the triggers are dropped, so
// every change is in the changelog (before the triggers go), in the binlog (after the start
// position), or in both; the relay drains what the changelog still holds. A change in both arrives
// twice with two versions, and the sinks keep the higher, which is the binlog's as long as every
// changelog id is below the start position's version: checked here, and made true by rotating the
// binlog if a changelog id ever reached that high.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { Config } from '../config/load.ts';
import { redact } from '../config/redact.ts';
import { CHANGELOG_TABLE, changelogDdl } from '../capture/trigger/ddl.ts';
import {
  captureLimitationsOf,
  dropTriggers,
  installTriggers,
  installedTables,
} from '../capture/trigger/install.ts';
import { Relay } from '../capture/trigger/relay.ts';
import { snapshotStateDdl } from '../capture/snapshot/snapshot.ts';
import {
  binlogCascadeWarnings,
  clearBinlogPosition,
  ensureBinlogStartPosition,
  readBinlogPosition,
} from '../capture/binlog/index.ts';
import { binlogFileIndex } from '../mysql/binlog.ts';
import { quoteId } from '../mysql/identifiers.ts';
import type { ResolvedPipeline } from '../spark/pipeline-files.ts';

const TWO_32 = 2n ** 32n;

async function nextChangelogId(conn: Connection, database: string): Promise<bigint> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT AUTO_INCREMENT AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, CHANGELOG_TABLE],
  );
  const [max] = await conn.query<RowDataPacket[]>(
    `SELECT COALESCE(MAX(id), 0) AS m FROM ${quoteId(CHANGELOG_TABLE)}`,
  );
  const auto = BigInt(String(rows[0]?.n ?? 1));
  const top = BigInt(String(max[0]?.m ?? 0)) + 1n;
  return auto > top ? auto : top;
}

async function changelogRows(conn: Connection): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${quoteId(CHANGELOG_TABLE)}`);
  return Number(rows[0]?.n ?? 0);
}

/** Trigger mode: install or refresh the triggers and say what they cannot see. */
async function prepareTriggerCapture(
  conn: Connection,
  config: Config,
  pipeline: ResolvedPipeline,
  log: (line: string) => void,
): Promise<void> {
  if (await readBinlogPosition(config)) {
    throw new Error(
      `source.capture is "trigger" but this state folder was last run with binlog capture (${config.stateDir}). Switching back to triggers is not automated yet: set source.capture: binlog again, or start over with \`syncline snapshot --restart\` after removing the binlog position file (docs/capture.md, "Switching capture modes")`,
    );
  }
  const installed = await installTriggers(conn, pipeline.tables);
  const changed = installed.filter((r) => r.action !== 'unchanged');
  log(
    `run: ${pipeline.tables.length} tables captured by triggers${changed.length ? `; triggers ${changed.map((r) => `${r.action} on ${r.table}`).join(', ')}` : ''}`,
  );
  // What trigger capture cannot see on this schema is said at every start (doctor lists it too).
  for (const l of await captureLimitationsOf(
    conn,
    config.source.database,
    pipeline.tables.map((t) => t.name),
  ))
    log(`run: CAPTURE LIMITATION on ${l.table} (${l.constraint}): ${l.detail}. To fix: ${l.fix}`);
}

/** Runs a relay until the changelog is empty: what the triggers captured before they were dropped. */
async function drainChangelog(config: Config, conn: Connection, log: (line: string) => void): Promise<void> {
  const left = await changelogRows(conn);
  if (left === 0) return;
  log(`run: publishing the ${left} changes the triggers captured before the switch`);
  const relay = new Relay(
    { ...config, source: { ...config.source, capture: 'trigger' } },
    { statusFile: false },
  );
  const running = relay.run();
  try {
    for (;;) {
      if ((await changelogRows(conn)) === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    relay.stop();
    await running;
  }
}

async function prepareBinlogCapture(
  conn: Connection,
  config: Config,
  pipeline: ResolvedPipeline,
  log: (line: string) => void,
): Promise<void> {
  const database = config.source.database;
  // The snapshot copies chunks through the changelog table; in binlog mode no trigger writes it.
  await conn.query(changelogDdl());
  await conn.query(snapshotStateDdl());
  const withTriggers = await installedTables(conn, database);
  if (withTriggers.length > 0) {
    log(`run: switching ${withTriggers.join(', ')} from trigger capture to binlog capture`);
    // A position from an earlier binlog period is older than what the changelog holds now.
    await clearBinlogPosition(config);
    let start = await ensureBinlogStartPosition(config);
    const nextId = await nextChangelogId(conn, database);
    if (binlogFileIndex(start.file) * TWO_32 <= nextId) {
      try {
        await conn.query('FLUSH BINARY LOGS');
      } catch (err) {
        throw new Error(
          `changelog ids have reached ${nextId}, above the versions of the current binlog file ${start.file}; a binlog rotation is needed and failed (${redact((err as Error).message)}). To fix: run FLUSH BINARY LOGS as a user with RELOAD until the file number exceeds ${nextId / TWO_32}, then start again`,
        );
      }
      await clearBinlogPosition(config);
      start = await ensureBinlogStartPosition(config);
      if (binlogFileIndex(start.file) * TWO_32 <= nextId)
        throw new Error(
          `changelog ids (${nextId}) are still above binlog versions after a rotation; run FLUSH BINARY LOGS until the file number exceeds ${nextId / TWO_32}`,
        );
    }
    await dropTriggers(conn, database, withTriggers);
    await drainChangelog(config, conn, log);
    log(`run: triggers dropped; binlog capture starts at ${start.file}:${start.position}`);
  } else {
    const start = await ensureBinlogStartPosition(config);
    log(
      `run: ${pipeline.tables.length} tables captured from the binlog, from ${start.file}:${start.position}`,
    );
  }
  for (const warning of await binlogCascadeWarnings(conn, config)) log(`run: CAPTURE LIMITATION: ${warning}`);
}

/** Prepares the source for the configured capture mode; the capture child is started after this. */
export async function prepareCapture(
  conn: Connection,
  config: Config,
  pipeline: ResolvedPipeline,
  log: (line: string) => void,
): Promise<void> {
  if (config.source.capture === 'binlog') await prepareBinlogCapture(conn, config, pipeline, log);
  else await prepareTriggerCapture(conn, config, pipeline, log);
}
