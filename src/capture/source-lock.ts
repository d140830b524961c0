// One active capture process per source database, whichever the mode: the relay and the binlog
// reader take the same MySQL named lock, so they can never both publish, and a standby takes over
// within one lock wait when the active one dies (its connection, and so its lock, goes with it).
import { createHash } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { Logger } from 'pino';

/** The named lock that makes one relay or binlog reader per source database active. */
export function relayLockName(database: string): string {
  const name = `syncline.relay.${database}`;
  // GET_LOCK names are limited to 64 characters.
  return name.length <= 64
    ? name
    : `syncline.relay.${createHash('sha256').update(database).digest('hex').slice(0, 40)}`;
}

/**
 * Waits on the connection until it holds the source lock (true), or until `stopping()` (false).
 * Logs once when another process holds it.
 */
export async function holdSourceLock(
  conn: Connection,
  database: string,
  lockWaitSeconds: number,
  stopping: () => boolean,
  log: Logger,
): Promise<boolean> {
  const lock = relayLockName(database);
  let waitingLogged = false;
  while (!stopping()) {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [lock, lockWaitSeconds]);
    if (Number(rows[0]?.got) === 1) {
      log.info({ database, lock }, 'active: holding the source lock');
      return true;
    }
    if (!waitingLogged) {
      log.info(
        { database, lock },
        'standby: another relay or binlog reader holds the source lock; waiting to take over',
      );
      waitingLogged = true;
    }
  }
  return false;
}
