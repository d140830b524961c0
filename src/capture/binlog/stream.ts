// The one file that knows the binlog library (@vlasky/zongji 0.9.0, decision 0070). It turns the
// library's events into the few this reader needs, with row values as arrays in table order, so the
// mapping to the contract (row-values.ts, reader.ts) never sees the library's types and the library
// can be forked or replaced here alone.
import ZongJi, {
  type AnyBinlogEvent,
  type BinlogEventByTypeName,
  type BinlogEventTypeName,
  type TableMapEvent,
} from '@vlasky/zongji';
import type { BinlogColumn, BinlogValueKind } from './row-values.ts';

export type RowsOp = 'insert' | 'update' | 'delete';

export type BinlogStreamEvent =
  /** The stream continues in another file (also sent first, for the start file). */
  | { type: 'rotate'; file: string }
  /**
   * An event between transactions that no transaction owns: a file's format description, GTID
   * list or binlog checkpoint. `end` is a place to resume from; without it a reader whose server
   * rotated to a new file (FLUSH BINARY LOGS, a restart) and then fell idle would never reach the
   * server's head.
   */
  | { type: 'boundary'; end: number; timestampMs: number }
  /** A transaction starts: `end` is the end offset of its GTID (or BEGIN) event. */
  | { type: 'begin'; end: number; gtid: string | undefined; standalone: boolean; timestampMs: number }
  /** BEGIN inside a group that a GTID event opened (MySQL writes both). */
  | { type: 'begin-statement'; end: number; timestampMs: number }
  | {
      type: 'table';
      tableId: number;
      schema: string;
      table: string;
      /** null when the event carries no column names (binlog_row_metadata is not FULL). */
      columns: BinlogColumn[] | null;
      /** Primary-key column indexes, in key order (empty: the table has none). */
      primaryKey: number[];
      /** Why the decoder would have to read today's schema instead of the event (null: it need not). */
      schemaFallback: string | null;
    }
  | {
      type: 'rows';
      op: RowsOp;
      tableId: number;
      schema: string;
      table: string;
      /** insert/delete: one value array per row; update: before and after per row. */
      rows: unknown[][];
      after?: unknown[][];
      timestampMs: number;
    }
  /** The transaction's commit (Xid, or a COMMIT/ROLLBACK statement): `end` is where the next begins. */
  | { type: 'commit'; end: number; timestampMs: number; gtid: string | undefined }
  /** Any other statement (DDL, TRUNCATE, SAVEPOINT ...). */
  | {
      type: 'query';
      schema: string;
      sql: string;
      end: number;
      timestampMs: number;
      gtid: string | undefined;
    };

export interface BinlogConnection {
  /** mysql://user@host:port, as in source.url. */
  uri: string;
  password?: string | undefined;
}

export interface BinlogStreamOptions {
  connection: BinlogConnection;
  /** Replica server id this reader announces; must differ from the server's and other replicas'. */
  serverId: number;
  file: string;
  position: number;
  onEvent: (event: BinlogStreamEvent) => void;
  onError: (err: Error) => void;
}

export interface BinlogStream {
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

// Type codes of the binlog format (include/mysql_com.h / MariaDB's field_types.h).
const T = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  BLOB_COMPRESSED: 140,
  VARCHAR_COMPRESSED: 141,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

function kindOf(type: number): BinlogValueKind {
  switch (type) {
    case T.TINY:
    case T.SHORT:
    case T.INT24:
    case T.LONG:
      return 'int';
    case T.YEAR:
      return 'year';
    case T.LONGLONG:
      return 'bigint';
    case T.DECIMAL:
    case T.NEWDECIMAL:
      return 'decimal';
    case T.FLOAT:
      return 'float';
    case T.DOUBLE:
      return 'double';
    case T.BIT:
      return 'bit';
    case T.DATE:
    case T.NEWDATE:
      return 'date';
    case T.DATETIME:
    case T.DATETIME2:
      return 'datetime';
    case T.TIMESTAMP:
    case T.TIMESTAMP2:
      return 'timestamp';
    case T.TIME:
    case T.TIME2:
      return 'time';
    case T.ENUM:
      return 'enum';
    case T.SET:
      return 'set';
    case T.JSON:
      return 'json';
    case T.GEOMETRY:
      return 'geometry';
    default:
      return 'string';
  }
}

type TableMapColumn = {
  name: string;
  charset: string | null;
  type: number;
  metadata?: Record<string, unknown>;
};
type TableMapCache = Record<number, { columns?: TableMapColumn[] }>;

function is<N extends BinlogEventTypeName>(
  event: AnyBinlogEvent,
  name: N,
): event is BinlogEventByTypeName<N> {
  return event.getTypeName() === name;
}

/** What a TABLE_MAP event says about its table. */
function describeTable(event: TableMapEvent, cache: TableMapCache): BinlogStreamEvent {
  const names = event.columnNames;
  const base = {
    type: 'table' as const,
    tableId: event.tableId,
    schema: event.schemaName,
    table: event.tableName,
    primaryKey: event.primaryKey ?? [],
  };
  if (!names || names.length !== event.columnCount || !event.hasSelfDescribingMetadata())
    return { ...base, columns: null, schemaFallback: null };
  const types = event.columnTypes;
  const metadata = event.columnsMetadata as Array<Record<string, unknown> | undefined>;
  const columns: BinlogColumn[] = names.map((name, i) => {
    const meta = metadata[i] ?? {};
    // ENUM and SET travel as STRING with their real type in the metadata.
    const type = typeof meta.type === 'number' ? meta.type : types[i]!;
    const column: BinlogColumn = { name, kind: kindOf(type) };
    if (type === T.BIT) column.bits = Number(meta.bits ?? 1);
    return column;
  });
  // The decoder parses geometry into points, which loses the WKB type and byte order. Read the
  // column as a BLOB instead (same length-prefixed layout) to keep the bytes; the rows of this
  // table id are decoded after this handler returns.
  for (const column of cache[event.tableId]?.columns ?? [])
    if (column.type === T.GEOMETRY) {
      column.type = T.LONG_BLOB;
      column.charset = null;
    }
  const schemaFallback = event.hasAmbiguousTemporalColumns()
    ? `${event.schemaName}.${event.tableName} has DATETIME/TIMESTAMP/TIME columns in the pre-MariaDB-10.1 format, whose binlog values cannot be decoded from the event alone. To fix: rewrite them in the current format (SET GLOBAL mysql56_temporal_format=ON, then ALTER TABLE ... FORCE)`
    : null;
  return { ...base, columns, schemaFallback };
}

/** Row objects keyed by column name → arrays in table order. */
function values(row: Record<string, unknown>, columns: TableMapColumn[]): unknown[] {
  return columns.map((c) => row[c.name]);
}

export function openBinlogStream(options: BinlogStreamOptions): BinlogStream {
  const { connection } = options;
  const zongji = new ZongJi({
    uri: connection.uri,
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    dateStrings: true,
    timezone: 'Z',
    jsonStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    enableKeepAlive: true,
  });
  const internals = zongji as unknown as {
    tableMap: TableMapCache;
    connection: { pause(): void; resume(): void } | null;
  };
  let failed = false;
  zongji.on('error', (err: Error) => {
    if (failed) return;
    failed = true;
    options.onError(err);
  });
  zongji.on('binlog', (event: AnyBinlogEvent) => {
    if (failed) return;
    try {
      const timestampMs = event.timestamp;
      if (is(event, 'Rotate')) options.onEvent({ type: 'rotate', file: event.binlogName });
      else if (
        is(event, 'Format') ||
        is(event, 'MariadbGtidList') ||
        is(event, 'BinlogCheckpoint') ||
        is(event, 'PreviousGtids')
      ) {
        // The format description sent first for a start inside a file may carry 0 or its own
        // offset near the file's start: the reader only ever moves forward.
        if (event.nextPosition > 0)
          options.onEvent({ type: 'boundary', end: event.nextPosition, timestampMs });
      } else if (is(event, 'MariadbGtid'))
        options.onEvent({
          type: 'begin',
          end: event.nextPosition,
          gtid: event.gtid,
          standalone: event.standalone,
          timestampMs,
        });
      else if (is(event, 'Gtid') || is(event, 'AnonymousGtid'))
        options.onEvent({
          type: 'begin',
          end: event.nextPosition,
          gtid: is(event, 'Gtid') ? event.gtid : undefined,
          // MySQL opens a DML group with a BEGIN statement after the GTID event; DDL has none.
          standalone: true,
          timestampMs,
        });
      else if (is(event, 'TableMap')) options.onEvent(describeTable(event, internals.tableMap));
      else if (is(event, 'WriteRows') || is(event, 'DeleteRows') || is(event, 'UpdateRows')) {
        const columns = internals.tableMap[event.tableId]?.columns;
        if (!columns) throw new Error(`rows event for table id ${event.tableId} without its TABLE_MAP`);
        const map = event.tableMap[event.tableId] as unknown as { parentSchema: string; tableName: string };
        const base = {
          type: 'rows' as const,
          tableId: event.tableId,
          schema: map.parentSchema,
          table: map.tableName,
          timestampMs,
        };
        if (is(event, 'UpdateRows'))
          options.onEvent({
            ...base,
            op: 'update',
            rows: event.rows.map((r) => values(r.before, columns)),
            after: event.rows.map((r) => values(r.after, columns)),
          });
        else
          options.onEvent({
            ...base,
            op: is(event, 'WriteRows') ? 'insert' : 'delete',
            rows: event.rows.map((r) => values(r, columns)),
          });
      } else if (is(event, 'Xid'))
        options.onEvent({ type: 'commit', end: event.nextPosition, timestampMs, gtid: event.gtid });
      else if (is(event, 'Query')) {
        const sql = event.query.trim();
        const word = sql.toUpperCase();
        if (word === 'BEGIN')
          options.onEvent({ type: 'begin-statement', end: event.nextPosition, timestampMs });
        else if (word === 'COMMIT' || word === 'ROLLBACK')
          options.onEvent({ type: 'commit', end: event.nextPosition, timestampMs, gtid: event.gtid });
        else
          options.onEvent({
            type: 'query',
            schema: event.schema,
            sql,
            end: event.nextPosition,
            timestampMs,
            gtid: event.gtid,
          });
      }
    } catch (err) {
      failed = true;
      options.onError(err as Error);
    }
  });
  zongji.start({ serverId: options.serverId, filename: options.file, position: options.position });
  return {
    pause: () => internals.connection?.pause(),
    resume: () => internals.connection?.resume(),
    stop: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 3000);
        zongji.once('stopped', () => {
          clearTimeout(timer);
          resolve();
        });
        zongji.stop();
      }),
  };
}
