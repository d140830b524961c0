// The version (`source.seq`) of a binlog event:
//
//   seq = fileIndex × 2^32 + gtidEnd + ordinal
//
// fileIndex is the number in the binlog file name (mysql-bin.000123 → 123); gtidEnd is the end
// offset of the event that starts the transaction (MariaDB's GTID event, MySQL's GTID or anonymous
// GTID event; a BEGIN query where neither exists); ordinal counts the events emitted for that
// transaction from 0. Every emitted event comes from at least one byte of the transaction after
// gtidEnd (a row image, or the statement of a TRUNCATE), and the commit event adds more, so
// gtidEnd + ordinal stays below the end of the transaction and below the next transaction's
// gtidEnd: transactions never overlap, and the binlog holds them in commit order. The same
// transaction read again after a restart gets the same numbers, so the sinks refuse the
// duplicates as stale. Offsets of later files are larger by 2^32, which holds as long as a file
// stays below 4 GiB; with fileIndex < 2^21 the result stays below 2^53.
//
// Only the GTID event's offset is used, never a rows event's: MariaDB 11.4+ writes end_log_pos = 0
// for events written through the transaction cache.

import { binlogFileIndex } from '../../mysql/binlog.ts';

const TWO_32 = 2n ** 32n;
const MAX_FILE_INDEX = 2n ** 21n;

export function binlogSeq(file: string, gtidEnd: number, ordinal: number): string {
  const index = binlogFileIndex(file);
  if (index >= MAX_FILE_INDEX)
    throw new Error(`binlog file ${file}: its number is too large for a 53-bit version (seq)`);
  const offset = BigInt(gtidEnd) + BigInt(ordinal);
  if (offset >= TWO_32)
    throw new Error(
      `binlog file ${file}: a transaction reaches past 4 GiB (offset ${offset}); versions would overlap the next file's`,
    );
  return (index * TWO_32 + offset).toString();
}
