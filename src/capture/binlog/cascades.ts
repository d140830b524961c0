// InnoDB applies ON DELETE / ON UPDATE CASCADE and SET NULL inside the storage engine, and neither
// MariaDB nor MySQL writes row events for the rows it changes that way: binlog capture cannot see
// them. Say so at start, by table and constraint (invariant 9).
import type { Connection } from 'mysql2/promise';
import type { Config } from '../../config/load.ts';
import { readForeignKeys } from '../../mysql/catalog.ts';
import { capturedTables } from '../trigger/install.ts';

const ACTS = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT']);

export async function binlogCascadeWarnings(conn: Connection, config: Config): Promise<string[]> {
  const database = config.source.database;
  const captured = new Set((await capturedTables(conn, database, config.source.tables)).map((t) => t.name));
  const out: string[] = [];
  for (const fk of await readForeignKeys(conn, database)) {
    if (!captured.has(fk.table)) continue;
    const rules = [
      ACTS.has(fk.onDelete) ? `ON DELETE ${fk.onDelete}` : '',
      ACTS.has(fk.onUpdate) ? `ON UPDATE ${fk.onUpdate}` : '',
    ].filter(Boolean);
    if (rules.length === 0) continue;
    out.push(
      `${fk.table}.${fk.name} (${rules.join(' ')}, references ${fk.refDatabase === database ? '' : `${fk.refDatabase}.`}${fk.refTable}): the server writes no binlog row events for rows of ${fk.table} that this constraint changes, so binlog capture misses them and the sinks keep the old rows. To fix: make the constraint RESTRICT and change ${fk.table} explicitly, or use source.capture: trigger (its triggers capture cascades)`,
    );
  }
  return out;
}
