// `<state-dir>/capture-<database>.json`: what the active relay or binlog reader last said about
// itself, for `syncline status`. Written whole through a temporary file, so a reader never sees half.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileSafeName } from '../model/file-names.ts';

export function captureStatusFile(stateDir: string, database: string): string {
  return path.join(stateDir, `capture-${fileSafeName(database)}.json`);
}

/** Best effort: a status that cannot be written must never stop the capture. */
export function writeCaptureStatus(
  stateDir: string,
  database: string,
  status: Record<string, unknown>,
): void {
  try {
    mkdirSync(stateDir, { recursive: true });
    const file = captureStatusFile(stateDir, database);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(status));
    renameSync(tmp, file);
  } catch {
    // status is best effort
  }
}
