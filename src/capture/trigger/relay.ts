// The relay: drains the changelog into Kafka. See docs/decisions/0021-relay-ordering.md for why
// "read every visible row in id order, delete exactly what was published" loses nothing and keeps
// per-row order although ids are assigned at write time, not commit time.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import pino, { type Logger } from 'pino';
import type { Config } from '../../config/load.ts';
import { redact } from '../../config/redact.ts';
import { compactJson } from '../../model/event.ts';
import { connect } from '../../mysql/connect.ts';
import { quoteId } from '../../mysql/identifiers.ts';
import { captureMetrics, type CaptureMetrics } from '../metrics.ts';
import { eventValue, KafkaPublisher, type Outgoing } from '../publish.ts';
import { CHANGELOG_TABLE } from './ddl.ts';
import { TruncateWatch } from './truncate.ts';
import { holdSourceLock } from '../source-lock.ts';
import { writeCaptureStatus } from '../status-file.ts';

export interface RelayOptions {
  logger?: Logger;
  metrics?: CaptureMetrics;
  /** Write `<stateDir>/capture-status.json` for `syncline status` (default true). */
  statusFile?: boolean;
}

interface ChangelogRow extends RowDataPacket {
  id: string;
  tbl: string;
  op: string;
  pk: string;
  before_image: string | null;
  after_image: string | null;
  ts_ms: string;
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

export function buildEventValue(
  row: ChangelogRow,
  sourceName: string,
  database: string,
  now: number,
): string {
  // Snapshot chunks travel through the changelog as `r` rows (src/capture/snapshot/).
  // Assembled as text so that row images (JSON from the database) are never re-parsed: a nested
  // JSON number with more digits than a double holds stays exact.
  return eventValue({
    op: row.op,
    before: row.before_image === null ? null : compactJson(row.before_image),
    after: row.after_image === null ? null : compactJson(row.after_image),
    sourceName,
    database,
    table: row.tbl,
    capture: row.op === 'r' ? 'snapshot' : 'trigger',
    seq: row.id,
    tsMs: Number(row.ts_ms),
    now,
  });
}

export class Relay {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #metrics: CaptureMetrics;
  readonly #statusFile: boolean;
  readonly #stop = new AbortController();
  #conn: Connection | null = null;
  readonly #publisher: KafkaPublisher;
  #published = 0;
  #lastBacklogCheck = 0;
  #lastStatusWrite = 0;
  #active = false;
  #jsonTableDelete = true;
  #truncates: TruncateWatch | null = null;

  constructor(config: Config, options: RelayOptions = {}) {
    this.#config = config;
    this.#log = options.logger ?? pino({ name: 'syncline-capture' });
    this.#metrics = options.metrics ?? captureMetrics;
    this.#statusFile = options.statusFile ?? true;
    this.#publisher = new KafkaPublisher(config, this.#log, this.#metrics, {
      seqName: 'changelog seq',
      rowName: 'changelog row',
    });
  }

  /** Ask the relay to finish the batch in flight and return from run(). */
  stop(): void {
    this.#stop.abort();
  }

  get stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Change events this instance sent to the DLQ topic instead of their table topic (too large). */
  get deadLettered(): number {
    return this.#publisher.deadLettered;
  }

  /** Events published (acknowledged by Kafka) by this instance. */
  get published(): number {
    return this.#published;
  }

  async run(): Promise<void> {
    const { source } = this.#config;
    if (source.capture !== 'trigger') {
      throw new Error(
        `source.capture is "${source.capture}": this relay drains the trigger changelog; binlog capture is a separate reader`,
      );
    }
    let failures = 0;
    while (!this.stopping) {
      try {
        await this.#connectAndLock();
        if (this.stopping) break;
        failures = 0;
        await this.#drain();
      } catch (err) {
        failures++;
        this.#setActive(false);
        // A topic deleted behind our back must be created again, not assumed.
        this.#publisher.forgetTopics();
        // Keep retrying after a missing changelog: `syncline run` may install the triggers a moment later.
        const message =
          (err as { errno?: number }).errno === 1146
            ? `changelog table ${CHANGELOG_TABLE} not found in database ${source.database}: run \`syncline triggers install\` first`
            : String((err as Error)?.message ?? err);
        this.#log.error({ err: redact(message), failures }, 'relay error; reconnecting');
        await this.#closeMysql();
        await this.#closeKafka();
        await sleep(Math.min(200 * 2 ** Math.min(failures, 5), 5000), this.#stop.signal);
      }
    }
    const wasActive = this.#active;
    this.#setActive(false);
    await this.#truncates?.stop();
    await this.#closeMysql();
    await this.#closeKafka();
    if (wasActive) this.#writeStatus(true);
    this.#log.info({ published: this.#published }, 'relay stopped');
  }

  #setActive(active: boolean): void {
    this.#active = active;
    this.#metrics.active.set(active ? 1 : 0);
  }

  async #connectAndLock(): Promise<void> {
    const { source } = this.#config;
    const conn = await connect({
      url: source.url,
      password: source.password,
      database: source.database,
      multipleStatements: true,
    });
    this.#conn = conn;
    // READ COMMITTED: every poll sees everything committed so far and the DELETE takes no gap locks.
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

  async #drain(): Promise<void> {
    const conn = this.#conn!;
    const { source } = this.#config;
    const select = `SELECT id, tbl, op, pk, before_image, after_image, FLOOR(UNIX_TIMESTAMP(ts) * 1000) AS ts_ms
      FROM ${quoteId(CHANGELOG_TABLE)} ORDER BY id LIMIT ${source.relay.batchSize}`;
    this.#truncates ??= new TruncateWatch(source.database, { log: this.#log });
    const openReloadConnection = (): Promise<Connection> =>
      connect({ url: source.url, password: source.password, database: source.database });
    while (!this.stopping) {
      // Before the read: a marker written now is drained in this very batch.
      await this.#truncates.check(conn);
      this.#truncates.startReloads(openReloadConnection);
      const started = performance.now();
      const [rows] = await conn.query<ChangelogRow[]>(select);
      await this.#maybeCheckBacklog(rows.length);
      this.#metrics.lagSeconds.set(
        rows.length === 0 ? 0 : Math.max(0, (Date.now() - Number(rows[0]!.ts_ms)) / 1000),
      );
      if (rows.length === 0) {
        this.#writeStatus();
        await sleep(source.relay.pollIntervalMs, this.#stop.signal);
        continue;
      }
      // From here on the batch is finished even if a stop is requested meanwhile.
      const selected = performance.now();
      await this.#publish(rows);
      const sent = performance.now();
      await this.#delete(rows.map((r) => r.id));
      this.#log.trace(
        { selectMs: selected - started, sendMs: sent - selected, deleteMs: performance.now() - sent },
        'batch timing',
      );
      this.#published += rows.length;
      this.#metrics.batches.inc();
      for (const row of rows) this.#metrics.events.inc({ table: row.tbl, op: row.op });
      this.#metrics.batchSeconds.observe((performance.now() - started) / 1000);
      this.#log.debug(
        { events: rows.length, first: rows[0]!.id, last: rows[rows.length - 1]!.id },
        'batch published',
      );
      this.#writeStatus();
    }
  }

  async #publish(rows: ChangelogRow[]): Promise<void> {
    const { source } = this.#config;
    const publisher = this.#publisher;
    const topics = new Map<string, string>();
    for (const row of rows) if (!topics.has(row.tbl)) topics.set(row.tbl, publisher.topicFor(row.tbl));
    await publisher.ensureTopics([...topics.values()]);
    const now = Date.now();
    const items: Outgoing[] = [];
    for (const row of rows) {
      const what = { table: row.tbl, seq: row.id, op: row.op };
      const value = buildEventValue(row, source.name, source.database, now);
      if (row.op === 't') {
        items.push(...(await publisher.truncate(what, topics.get(row.tbl)!, value)));
        continue;
      }
      items.push(
        await publisher.event(what, { topic: topics.get(row.tbl)!, key: compactJson(row.pk), value }),
      );
    }
    await publisher.send(items);
  }

  async #delete(ids: string[]): Promise<void> {
    const conn = this.#conn!;
    for (const id of ids) if (!/^\d+$/.test(id)) throw new Error(`unexpected changelog id ${id}`);
    const table = quoteId(CHANGELOG_TABLE);
    // Every published row must be removed by a primary-key lookup that touches no other row. A
    // plain `id IN (...)` DELETE is planned as a scan when the changelog is small (its usual state),
    // and a scan waits on each uncommitted row it meets; writers keep adding such rows, so it can
    // stall for as long as they write (docs/decisions/0021). Driving the delete from a JSON_TABLE
    // of the ids with STRAIGHT_JOIN forces one eq_ref lookup per id.
    if (this.#jsonTableDelete) {
      try {
        await conn.query(
          `DELETE c FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids STRAIGHT_JOIN ${table} AS c ON c.id = ids.id`,
          [`[${ids.join(',')}]`],
        );
        return;
      } catch (err) {
        const code = (err as { errno?: number }).errno;
        if (code !== 1064 && code !== 1305 && code !== 1146) throw err;
        // A server without JSON_TABLE (MariaDB < 10.6, MySQL < 8.0): point deletes instead.
        this.#log.warn('JSON_TABLE not available: deleting published rows one statement per id');
        this.#jsonTableDelete = false;
      }
    }
    for (let i = 0; i < ids.length; i += 5000) {
      const chunk = ids.slice(i, i + 5000);
      await conn.query(
        `START TRANSACTION;${chunk.map((id) => `DELETE FROM ${table} WHERE id=${id}`).join(';')};COMMIT`,
      );
    }
  }

  async #maybeCheckBacklog(batchRows: number): Promise<void> {
    const now = Date.now();
    if (batchRows === 0) {
      this.#metrics.backlog.set(0);
      return;
    }
    if (now - this.#lastBacklogCheck < 5000) return;
    this.#lastBacklogCheck = now;
    const [rows] = await this.#conn!.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM ${quoteId(CHANGELOG_TABLE)}`,
    );
    this.#metrics.backlog.set(Number(rows[0]?.n ?? 0));
  }

  #writeStatus(force = false): void {
    // Only the active relay speaks for the source; a waiting one would overwrite its figures.
    if (!this.#statusFile || (!this.#active && !force)) return;
    const now = Date.now();
    if (!force && now - this.#lastStatusWrite < 1000) return;
    this.#lastStatusWrite = now;
    writeCaptureStatus(this.#config.stateDir, this.#config.source.database, {
      pid: process.pid,
      database: this.#config.source.database,
      active: this.#active,
      stopped: this.stopping,
      published: this.#published,
      deadLettered: this.#publisher.deadLettered,
      updatedAt: new Date(now).toISOString(),
    });
  }

  async #closeMysql(): Promise<void> {
    const conn = this.#conn;
    this.#conn = null;
    if (!conn) return;
    // Closing the connection releases the named lock too.
    await conn.end().catch(() => conn.destroy());
  }

  async #closeKafka(): Promise<void> {
    await this.#publisher.close();
  }
}
