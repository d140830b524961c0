// `source.capture: binlog`: reads the binary log as a replica and publishes the same envelope as the
// trigger relay, to the same topics, with the same keys and partitioner. Snapshot chunks reach it
// as `r` rows inserted into the changelog table, so their binlog position orders them against
// every application write. The position (end of the last transaction Kafka acknowledged) is kept
// in the state folder; a restart resumes there and may publish a transaction twice, with the same
// seq both times, never lose one.
import { createHash } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import pino, { type Logger } from 'pino';
import type { Config } from '../../config/load.ts';
import { redact } from '../../config/redact.ts';
import { compactJson } from '../../model/event.ts';
import { INTERNAL_TABLE_PREFIX } from '../../mysql/catalog.ts';
import { connect, mysqlErrno } from '../../mysql/connect.ts';
import { quoteId } from '../../mysql/identifiers.ts';
import { captureMetrics, type CaptureMetrics } from '../metrics.ts';
import { eventValue, KafkaPublisher, type Outgoing } from '../publish.ts';
import { CHANGELOG_TABLE } from '../trigger/ddl.ts';
import { holdSourceLock } from '../source-lock.ts';
import { writeCaptureStatus } from '../status-file.ts';
import type { RelayOptions } from '../trigger/relay.ts';
import { binlogCascadeWarnings } from './cascades.ts';
import {
  binaryLogs,
  binlogFileIndex,
  bytesBehind as bytesBetween,
  compareCoordinates,
} from '../../mysql/binlog.ts';
import {
  binlogHeadOf,
  ensureBinlogStartPosition,
  positionFile,
  writeBinlogPosition,
  type BinlogPosition,
} from './position.ts';
import { imageJson, type BinlogColumn } from './row-values.ts';
import { binlogSeq } from './seq.ts';
import { truncatedTable } from './statements.ts';
import { openBinlogStream, type BinlogStream, type BinlogStreamEvent } from './stream.ts';

export type BinlogReaderOptions = RelayOptions;

/** A problem that retrying cannot fix: run() stops with it instead of reconnecting. */
export class BinlogFatalError extends Error {
  override name = 'BinlogFatalError';
}

interface TableInfo {
  table: string;
  role: 'captured' | 'changelog' | 'ignored';
  columns: BinlogColumn[];
  primaryKey: number[];
}

/** An event waiting for Kafka; its text is built when it is sent. */
type PendingEvent =
  | {
      kind: 'row';
      op: 'c' | 'u' | 'd';
      table: string;
      columns: BinlogColumn[];
      primaryKey: number[];
      before: unknown[] | null;
      after: unknown[] | null;
      seq: string;
    }
  | { kind: 'snapshot'; table: string; key: string; after: string; seq: string }
  | { kind: 'truncate'; table: string; seq: string };

interface Transaction {
  file: string;
  gtidEnd: number;
  gtid: string | undefined;
  /** Opened by BEGIN or a non-standalone GTID: only a commit ends it. */
  inGroup: boolean;
  events: PendingEvent[];
  changelogIds: string[];
}

interface ReadyTransaction {
  events: PendingEvent[];
  changelogIds: string[];
  tsMs: number;
  end: BinlogPosition;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The replica id this reader announces. A server ends an older dump of the same id when a new one
 * connects, which is what a restarted reader of the same database wants, while readers of other
 * databases on the same server must not collide.
 */
function replicaServerId(database: string): number {
  return (
    0x10000 + (createHash('sha256').update(`syncline:${database}`).digest().readUInt32BE(0) % 0x7fff0000)
  );
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return a === b || (a !== null && b !== null && String(a) === String(b));
}

/** Column names of the JSON columns MariaDB declares as LONGTEXT CHECK (json_valid(`c`)). */
async function jsonCheckedColumns(conn: Connection, database: string, table: string): Promise<Set<string>> {
  try {
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT CHECK_CLAUSE AS c FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?',
      [database, table],
    );
    const out = new Set<string>();
    for (const row of rows) {
      const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(String(row.c).trim());
      if (m?.[1]) out.add(m[1].replaceAll('``', '`'));
    }
    return out;
  } catch {
    // MySQL has a real JSON type (and no TABLE_NAME in this view).
    return new Set();
  }
}

export class BinlogReader {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #metrics: CaptureMetrics;
  readonly #statusFile: boolean;
  readonly #stop = new AbortController();
  readonly #publisher: KafkaPublisher;
  #conn: Connection | null = null;
  #stream: BinlogStream | null = null;
  #published = 0;
  #active = false;
  #lastStatusWrite = 0;
  #warnedCascades = false;
  #jsonTableDelete = true;

  // Stream state, rebuilt on every connection.
  #file = '';
  #tables = new Map<number, TableInfo>();
  #txn: Transaction | null = null;
  #ready: ReadyTransaction[] = [];
  #readyEvents = 0;
  #paused = false;
  #streamError: Error | null = null;
  #wake: (() => void) | null = null;

  // Progress, for status and metrics.
  #position: BinlogPosition | null = null;
  #lastTsMs = 0;
  #behind: { bytes: number | null; checkedAt: number } = { bytes: null, checkedAt: 0 };
  /** JSON columns per table, for the column list they were read for. */
  #jsonColumns = new Map<string, { names: string; json: Set<string> }>();
  #warnedNoKey = new Set<string>();

  constructor(config: Config, options: BinlogReaderOptions = {}) {
    this.#config = config;
    this.#log = options.logger ?? pino({ name: 'syncline-capture' });
    this.#metrics = options.metrics ?? captureMetrics;
    this.#statusFile = options.statusFile ?? true;
    this.#publisher = new KafkaPublisher(config, this.#log, this.#metrics, {
      seqName: 'binlog seq',
      rowName: 'binlog event',
    });
  }

  /** Ask the reader to finish the batch in flight and return from run(). */
  stop(): void {
    this.#stop.abort();
    this.#wake?.();
  }

  get stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Events published (acknowledged by Kafka) by this instance. */
  get published(): number {
    return this.#published;
  }

  /** Change events sent to the DLQ topic instead of their table topic (too large). */
  get deadLettered(): number {
    return this.#publisher.deadLettered;
  }

  /** The last position stored (end of the last transaction Kafka acknowledged). */
  get position(): BinlogPosition | null {
    return this.#position;
  }

  async run(): Promise<void> {
    const { source } = this.#config;
    if (source.capture !== 'binlog')
      throw new Error(`source.capture is "${source.capture}": the binlog reader runs only for "binlog"`);
    let failures = 0;
    let fatal: Error | null = null;
    while (!this.stopping) {
      try {
        await this.#connectAndLock();
        if (this.stopping) break;
        await this.#startStream();
        failures = 0;
        await this.#drain();
      } catch (err) {
        await this.#closeStream();
        this.#setActive(false);
        this.#publisher.forgetTopics();
        await this.#closeMysql();
        await this.#publisher.close();
        if (err instanceof BinlogFatalError) {
          fatal = err;
          this.#log.error({ err: redact(err.message) }, 'binlog reader stopped');
          break;
        }
        failures++;
        this.#log.error(
          { err: redact(String((err as Error)?.message ?? err)), failures },
          'binlog reader error; reconnecting',
        );
        await sleep(Math.min(200 * 2 ** Math.min(failures, 5), 5000), this.#stop.signal);
      }
    }
    const wasActive = this.#active;
    this.#setActive(false);
    await this.#closeStream();
    await this.#closeMysql();
    await this.#publisher.close();
    if (wasActive || fatal) this.#writeStatus(true, fatal?.message);
    this.#log.info({ published: this.#published, position: this.#position }, 'binlog reader stopped');
    if (fatal) throw fatal;
  }

  #setActive(active: boolean): void {
    this.#active = active;
    this.#metrics.active.set(active ? 1 : 0);
  }

  async #connectAndLock(): Promise<void> {
    const { source } = this.#config;
    const conn = await connect({ url: source.url, password: source.password, database: source.database });
    this.#conn = conn;
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    if (
      await holdSourceLock(
        conn,
        source.database,
        source.relay.lockWaitSeconds,
        () => this.stopping,
        this.#log,
      )
    )
      this.#setActive(true);
  }

  /** Checks the stored position against the server's binary logs, then starts reading there. */
  async #startStream(): Promise<void> {
    const conn = this.#conn!;
    const { source } = this.#config;
    const position = await ensureBinlogStartPosition(this.#config);
    const logs = await binaryLogs(conn);
    const names = logs.map((l) => l.file);
    if (!names.includes(position.file)) {
      const lower = logs.length > 0 && binlogFileIndex(position.file) < binlogFileIndex(names[0]!);
      throw new BinlogFatalError(
        `the stored binlog position ${position.file}:${position.position} (${positionFile(this.#config)}) names a binary log file the server no longer has (${lower ? `purged: the oldest left is ${names[0]}` : `the server's files are ${names[0] ?? '(none)'} … ${names.at(-1) ?? ''}, e.g. after RESET MASTER or a restore`}). The changes written in between are lost to binlog capture. To recover: stop syncline, delete ${positionFile(this.#config)}, then run \`syncline snapshot --restart\` (or \`syncline run\`, which records a new start position before it snapshots) so every table is loaded again; keep binary logs longer than any outage (binlog_expire_logs_seconds / expire_logs_days)`,
      );
    }
    this.#position = position;
    if (!this.#warnedCascades) {
      this.#warnedCascades = true;
      for (const warning of await binlogCascadeWarnings(conn, this.#config).catch(() => []))
        this.#log.warn(`CAPTURE LIMITATION: ${warning}`);
    }
    this.#file = position.file;
    this.#tables.clear();
    this.#txn = null;
    this.#ready = [];
    this.#readyEvents = 0;
    this.#paused = false;
    this.#streamError = null;
    this.#log.info({ file: position.file, position: position.position }, 'reading the binary log');
    this.#stream = openBinlogStream({
      connection: { uri: source.url, password: source.password },
      serverId: replicaServerId(source.database),
      file: position.file,
      position: position.position,
      onEvent: (event) => this.#onEvent(event),
      onError: (err) => this.#fail(err),
    });
  }

  #fail(err: Error): void {
    if (this.#streamError) return;
    const errno = mysqlErrno(err);
    this.#streamError =
      errno === 1236
        ? new BinlogFatalError(
            `the server cannot send the binary log from the stored position ${this.#position?.file}:${this.#position?.position} (${redact(err.message)}). If that file was purged, the changes written since are lost to binlog capture. To recover: stop syncline, delete ${positionFile(this.#config)}, then run \`syncline snapshot --restart\` (or \`syncline run\`) to load every table again`,
          )
        : err;
    this.#wake?.();
  }

  #captured(table: string): boolean {
    const { tables } = this.#config.source;
    if (table.startsWith(INTERNAL_TABLE_PREFIX) || table.startsWith('_syncline')) return false;
    return tables === '*' || tables.includes(table);
  }

  // Called synchronously for every event, in binlog order. Builds transactions; never awaits.
  #onEvent(event: BinlogStreamEvent): void {
    try {
      this.#handle(event);
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #handle(event: BinlogStreamEvent): void {
    const database = this.#config.source.database;
    switch (event.type) {
      case 'rotate':
        this.#file = event.file;
        return;
      case 'boundary':
        if (!this.#txn) this.#boundary(event.end, event.timestampMs);
        return;
      case 'begin':
        this.#txn = {
          file: this.#file,
          gtidEnd: event.end,
          gtid: event.gtid,
          inGroup: !event.standalone,
          events: [],
          changelogIds: [],
        };
        return;
      case 'begin-statement':
        if (this.#txn) this.#txn.inGroup = true;
        else
          this.#txn = {
            file: this.#file,
            gtidEnd: event.end,
            gtid: undefined,
            inGroup: true,
            events: [],
            changelogIds: [],
          };
        return;
      case 'table': {
        const ignore = (): void => {
          this.#tables.set(event.tableId, {
            table: event.table,
            role: 'ignored',
            columns: [],
            primaryKey: [],
          });
        };
        if (event.schema !== database) return ignore();
        const role =
          event.table === CHANGELOG_TABLE
            ? 'changelog'
            : this.#captured(event.table)
              ? 'captured'
              : 'ignored';
        if (role !== 'ignored') {
          if (event.columns === null)
            throw new BinlogFatalError(
              `the binlog's TABLE_MAP event for ${event.schema}.${event.table} carries no column names: the server writes it with binlog_row_metadata other than FULL, so the row's columns cannot be named as they were when it was written. To fix: SET GLOBAL binlog_row_metadata = FULL (and in the server config); events written before that cannot be read by binlog capture: remove the position file (${positionFile(this.#config)}) and re-snapshot with \`syncline snapshot --restart\``,
            );
          if (event.schemaFallback) throw new BinlogFatalError(event.schemaFallback);
        }
        if (role === 'captured' && event.primaryKey.length === 0) {
          if (!this.#warnedNoKey.has(event.table)) {
            this.#warnedNoKey.add(event.table);
            this.#log.warn(
              { table: event.table },
              'table has no primary key: its rows cannot be identified downstream, so binlog capture skips it',
            );
          }
          return ignore();
        }
        this.#tables.set(event.tableId, {
          table: event.table,
          role,
          columns: event.columns ?? [],
          primaryKey: event.primaryKey,
        });
        return;
      }
      case 'rows': {
        const info = this.#tables.get(event.tableId);
        if (!info || info.role === 'ignored') return;
        const txn = this.#openTransaction();
        if (info.role === 'changelog') {
          if (event.op === 'insert') this.#snapshotRows(txn, info, event.rows);
          return;
        }
        const seq = (): string => binlogSeq(txn.file, txn.gtidEnd, txn.events.length);
        const base = {
          kind: 'row' as const,
          table: info.table,
          columns: info.columns,
          primaryKey: info.primaryKey,
        };
        if (event.op === 'insert')
          for (const row of event.rows)
            txn.events.push({ ...base, op: 'c', before: null, after: row, seq: seq() });
        else if (event.op === 'delete')
          for (const row of event.rows)
            txn.events.push({ ...base, op: 'd', before: row, after: null, seq: seq() });
        else
          event.rows.forEach((before, i) => {
            const after = event.after![i]!;
            if (info.primaryKey.every((k) => sameValue(before[k], after[k])))
              txn.events.push({ ...base, op: 'u', before, after, seq: seq() });
            else {
              // A key change is a delete of the old key and a create of the new one (contract).
              txn.events.push({ ...base, op: 'd', before, after: null, seq: seq() });
              txn.events.push({ ...base, op: 'c', before: null, after, seq: seq() });
            }
          });
        return;
      }
      case 'commit':
        this.#finish(event.end, event.timestampMs, event.gtid);
        return;
      case 'query': {
        const truncated = truncatedTable(event.sql, event.schema);
        if (truncated && truncated.schema === database && this.#captured(truncated.table)) {
          const txn = this.#openTransaction();
          txn.events.push({
            kind: 'truncate',
            table: truncated.table,
            seq: binlogSeq(txn.file, txn.gtidEnd, txn.events.length),
          });
        }
        // DDL stands alone: the statement is the whole transaction. Renamed or added columns
        // arrive with the next TABLE_MAP (binlog_row_metadata=FULL), so nothing else is needed.
        if (!this.#txn?.inGroup) this.#finish(event.end, event.timestampMs, event.gtid);
        return;
      }
    }
  }

  #openTransaction(): Transaction {
    // Rows without a GTID or BEGIN before them cannot happen from a transaction boundary; should
    // the server send any, the first of them stands in for the transaction's start.
    this.#txn ??= {
      file: this.#file,
      gtidEnd: this.#position?.position ?? 0,
      gtid: undefined,
      inGroup: true,
      events: [],
      changelogIds: [],
    };
    return this.#txn;
  }

  /** Snapshot chunks: `r` rows the snapshot inserted into the changelog table. */
  #snapshotRows(txn: Transaction, info: TableInfo, rows: unknown[][]): void {
    const at = (name: string): number => {
      const i = info.columns.findIndex((c) => c.name === name);
      if (i < 0) throw new BinlogFatalError(`${CHANGELOG_TABLE} has no column ${name}: recreate it`);
      return i;
    };
    const [id, tbl, op, pk, after] = ['id', 'tbl', 'op', 'pk', 'after_image'].map(at) as [
      number,
      number,
      number,
      number,
      number,
    ];
    for (const row of rows) {
      if (String(row[op]) !== 'r' || row[after] === null || row[after] === undefined) continue;
      txn.changelogIds.push(String(row[id]));
      const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
      txn.events.push({
        kind: 'snapshot',
        table: text(row[tbl]),
        key: compactJson(text(row[pk])),
        after: compactJson(text(row[after])),
        seq: binlogSeq(txn.file, txn.gtidEnd, txn.events.length),
      });
    }
  }

  #finish(end: number, tsMs: number, gtid: string | undefined): void {
    const txn = this.#txn;
    this.#txn = null;
    const ready: ReadyTransaction = {
      events: txn?.events ?? [],
      changelogIds: txn?.changelogIds ?? [],
      tsMs,
      end: { file: this.#file, position: end, ...((gtid ?? txn?.gtid) ? { gtid: gtid ?? txn?.gtid } : {}) },
    };
    // MariaDB 11.4+ stamps 0 on events written through the transaction cache; a commit without a
    // real end position is no place to resume from, so the next boundary is kept instead.
    if (end <= 0) {
      if (ready.events.length === 0) return;
      ready.end = this.#ready.at(-1)?.end ?? this.#position!;
    }
    this.#ready.push(ready);
    this.#readyEvents += ready.events.length;
    if (!this.#paused && this.#readyEvents > 4 * this.#config.source.relay.batchSize) {
      this.#paused = true;
      this.#stream?.pause();
    }
    this.#wake?.();
  }

  /** A resume point between transactions with nothing to publish; kept only if it is ahead. */
  #boundary(end: number, tsMs: number): void {
    const last = this.#ready.at(-1)?.end ?? this.#position;
    const at = { file: this.#file, position: end };
    if (!last || compareCoordinates(at, last) <= 0) return;
    this.#ready.push({
      events: [],
      changelogIds: [],
      tsMs,
      end: { ...at, ...(last.gtid ? { gtid: last.gtid } : {}) },
    });
    this.#wake?.();
  }

  async #drain(): Promise<void> {
    const batchSize = this.#config.source.relay.batchSize;
    while (!this.stopping) {
      if (this.#streamError) throw this.#streamError;
      if (this.#ready.length === 0) {
        this.#metrics.lagSeconds.set(0);
        await this.#writeStatus();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 200);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = null;
        continue;
      }
      // From here on the batch is finished even if a stop is requested meanwhile.
      const started = performance.now();
      const batch: ReadyTransaction[] = [];
      let events = 0;
      while (
        this.#ready.length > 0 &&
        (batch.length === 0 || events + this.#ready[0]!.events.length <= batchSize)
      ) {
        const t = this.#ready.shift()!;
        batch.push(t);
        events += t.events.length;
      }
      this.#readyEvents -= events;
      this.#metrics.backlog.set(this.#readyEvents);
      this.#metrics.lagSeconds.set(Math.max(0, (Date.now() - batch[0]!.tsMs) / 1000));
      if (events > 0) await this.#publish(batch);
      const ids = batch.flatMap((t) => t.changelogIds);
      if (ids.length > 0) await this.#deleteChangelogRows(ids);
      const last = batch.at(-1)!;
      writeBinlogPosition(this.#config, last.end);
      this.#position = last.end;
      this.#lastTsMs = last.tsMs;
      if (this.#paused && this.#readyEvents <= batchSize) {
        this.#paused = false;
        this.#stream?.resume();
      }
      if (events > 0) {
        this.#published += events;
        this.#metrics.batches.inc();
        const counts = new Map<string, { table: string; op: string; n: number }>();
        for (const t of batch)
          for (const e of t.events) {
            const op = this.#opOf(e);
            const id = `${e.table}\u0000${op}`;
            const c = counts.get(id);
            if (c) c.n++;
            else counts.set(id, { table: e.table, op, n: 1 });
          }
        for (const c of counts.values()) this.#metrics.events.inc({ table: c.table, op: c.op }, c.n);
        this.#metrics.batchSeconds.observe((performance.now() - started) / 1000);
        this.#log.debug({ events, position: last.end }, 'batch published');
      }
      await this.#writeStatus();
    }
  }

  #opOf(e: PendingEvent): string {
    return e.kind === 'row' ? e.op : e.kind === 'snapshot' ? 'r' : 't';
  }

  async #publish(batch: ReadyTransaction[]): Promise<void> {
    const { source } = this.#config;
    const publisher = this.#publisher;
    const topics = new Map<string, string>();
    for (const t of batch)
      for (const e of t.events) if (!topics.has(e.table)) topics.set(e.table, publisher.topicFor(e.table));
    await publisher.ensureTopics([...topics.values()]);
    const now = Date.now();
    const items: Outgoing[] = [];
    for (const t of batch) {
      for (const e of t.events) {
        const topic = topics.get(e.table)!;
        const what = { table: e.table, seq: e.seq, op: this.#opOf(e) };
        const common = {
          sourceName: source.name,
          database: source.database,
          table: e.table,
          seq: e.seq,
          tsMs: t.tsMs,
          now,
        };
        if (e.kind === 'truncate') {
          const value = eventValue({ ...common, op: 't', before: null, after: null, capture: 'binlog' });
          items.push(...(await publisher.truncate(what, topic, value)));
        } else {
          let message;
          if (e.kind === 'snapshot') {
            const value = eventValue({
              ...common,
              op: 'r',
              before: null,
              after: e.after,
              capture: 'snapshot',
            });
            message = { topic, key: e.key, value };
          } else {
            if (e.columns[0]?.json === undefined) await this.#markJsonColumns(e.table, e.columns);
            const image = e.after ?? e.before!;
            const value = eventValue({
              ...common,
              op: e.op,
              before: e.before ? imageJson(e.columns, e.before) : null,
              after: e.after ? imageJson(e.columns, e.after) : null,
              capture: 'binlog',
            });
            message = { topic, key: imageJson(e.columns, image, e.primaryKey), value };
          }
          // Awaiting only for the rare dead letter keeps 100,000s of events off the microtask queue.
          items.push(publisher.eventIfSmall(what, message) ?? (await publisher.oversized(what, message)));
        }
      }
    }
    await publisher.send(items);
  }

  /**
   * MariaDB stores JSON as LONGTEXT with a json_valid() check, which the binlog does not carry:
   * which text columns hold JSON is read from the catalog, once per column list of a table.
   */
  async #markJsonColumns(table: string, columns: BinlogColumn[]): Promise<void> {
    if (!columns.some((c) => c.kind === 'string')) {
      for (const c of columns) c.json = false;
      return;
    }
    const names = columns.map((c) => c.name).join('\u0000');
    let known = this.#jsonColumns.get(table);
    if (!known || known.names !== names) {
      known = { names, json: await jsonCheckedColumns(this.#conn!, this.#config.source.database, table) };
      this.#jsonColumns.set(table, known);
    }
    for (const c of columns) c.json = c.kind === 'string' && known.json.has(c.name);
  }

  async #deleteChangelogRows(ids: string[]): Promise<void> {
    const conn = this.#conn!;
    for (const id of ids) if (!/^\d+$/.test(id)) throw new Error(`unexpected changelog id ${id}`);
    const table = quoteId(CHANGELOG_TABLE);
    // One primary-key lookup per id (see the relay's delete, docs/decisions/0021): a range scan
    // would wait on the snapshot chunk that is being written meanwhile.
    if (this.#jsonTableDelete) {
      try {
        await conn.query(
          `DELETE c FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids STRAIGHT_JOIN ${table} AS c ON c.id = ids.id`,
          [`[${ids.join(',')}]`],
        );
        return;
      } catch (err) {
        const code = mysqlErrno(err);
        if (code !== 1064 && code !== 1305) throw err;
        this.#jsonTableDelete = false;
      }
    }
    for (const id of ids) await conn.query(`DELETE FROM ${table} WHERE id = ${id}`);
  }

  async #writeStatus(force = false, error?: string): Promise<void> {
    if (!this.#statusFile || (!this.#active && !force)) return;
    const now = Date.now();
    if (!force && now - this.#lastStatusWrite < 1000) return;
    this.#lastStatusWrite = now;
    try {
      if (this.#conn && this.#position && now - this.#behind.checkedAt > 2000) {
        this.#behind = {
          bytes: bytesBetween(await binaryLogs(this.#conn), this.#position),
          checkedAt: now,
        };
      }
      const bytesBehind = this.#behind.bytes;
      writeCaptureStatus(this.#config.stateDir, this.#config.source.database, {
        pid: process.pid,
        database: this.#config.source.database,
        mode: 'binlog',
        active: this.#active,
        stopped: this.stopping || error !== undefined,
        published: this.#published,
        deadLettered: this.#publisher.deadLettered,
        position: this.#position ? { file: this.#position.file, position: this.#position.position } : null,
        behindBytes: bytesBehind,
        behindSeconds: bytesBehind && this.#lastTsMs > 0 ? Math.max(0, (now - this.#lastTsMs) / 1000) : 0,
        ...(error ? { error: redact(error) } : {}),
        updatedAt: new Date(now).toISOString(),
      });
    } catch {
      // status is best effort; never let it stop the reader
    }
  }

  async #closeStream(): Promise<void> {
    const stream = this.#stream;
    this.#stream = null;
    await stream?.stop();
  }

  async #closeMysql(): Promise<void> {
    const conn = this.#conn;
    this.#conn = null;
    if (!conn) return;
    // Closing the connection releases the named lock too.
    await conn.end().catch(() => conn.destroy());
  }
}

/** For tests and tools: the server's current head (file and offset). */
export async function currentBinlogHead(config: Config): Promise<BinlogPosition> {
  const conn = await connect({ url: config.source.url, password: config.source.password });
  try {
    return await binlogHeadOf(conn);
  } finally {
    await conn.end().catch(() => undefined);
  }
}
