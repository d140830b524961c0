// A random application workload over a schema that exercises every DML form trigger capture has to
// get right (IGNORE variants, REPLACE, ODKU, INSERT ... SELECT, multi-table statements, key moves,
// foreign-key cascades over three levels, savepoints, rollbacks), and an in-memory model that
// applies the captured change stream and compares itself with the tables. The capture fuzz test
// drives it through the relay and Kafka; the whole-pipeline fuzz run can drive the same workload.
import type { Connection, Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { compactJson } from '../../src/model/event.ts';
import { rowImageExpression } from '../../src/model/row-image-sql.ts';
import type { TableSchema } from '../../src/model/types.ts';
import { mysqlErrno } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { Rng } from '../../src/mysql/demo/random.ts';

/**
 * acct -> ord (ON DELETE CASCADE, ON UPDATE CASCADE into ord's primary key) -> line (ON DELETE SET
 * NULL, ON UPDATE CASCADE): three levels mixing CASCADE and SET NULL. tag -> item_tag: ON UPDATE
 * CASCADE into the child's key, deletes RESTRICTed; its codes come in collation-equal spellings
 * (t1, T1, 't1 '). kv2: composite key plus a UNIQUE column, for REPLACE over several conflicting
 * rows. acct.name is case-insensitive (a case-only change is a change downstream), acct.email a
 * unique secondary key.
 */
export const WORKLOAD_DDL = [
  `CREATE TABLE acct (id INT NOT NULL PRIMARY KEY, email VARCHAR(20) NULL UNIQUE,
     name VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL, score INT NOT NULL) ENGINE=InnoDB`,
  `CREATE TABLE ord (acct_id INT NOT NULL, ord_no INT NOT NULL, status VARCHAR(10) NOT NULL, amount INT NULL,
     PRIMARY KEY (acct_id, ord_no),
     CONSTRAINT ord_acct FOREIGN KEY (acct_id) REFERENCES acct (id) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB`,
  `CREATE TABLE line (id INT NOT NULL PRIMARY KEY, acct_id INT NULL, ord_no INT NULL, sku VARCHAR(10) NOT NULL, qty INT NOT NULL,
     KEY (acct_id, ord_no),
     CONSTRAINT line_ord FOREIGN KEY (acct_id, ord_no) REFERENCES ord (acct_id, ord_no) ON DELETE SET NULL ON UPDATE CASCADE) ENGINE=InnoDB`,
  `CREATE TABLE tag (code VARCHAR(10) NOT NULL PRIMARY KEY, label VARCHAR(20) NULL) ENGINE=InnoDB`,
  `CREATE TABLE item_tag (item INT NOT NULL, code VARCHAR(10) NOT NULL, note VARCHAR(10) NULL, PRIMARY KEY (item, code),
     CONSTRAINT item_tag_tag FOREIGN KEY (code) REFERENCES tag (code) ON DELETE RESTRICT ON UPDATE CASCADE) ENGINE=InnoDB`,
  `CREATE TABLE kv2 (a INT NOT NULL, b INT NOT NULL, u INT NULL UNIQUE, v INT NOT NULL, PRIMARY KEY (a, b)) ENGINE=InnoDB`,
];
export const WORKLOAD_TABLES = ['acct', 'ord', 'line', 'tag', 'item_tag', 'kv2'];

// ---------------------------------------------------------------------------------------------
// The model

export interface ModelEvent {
  table: string;
  op: 'c' | 'u' | 'd' | 'r' | 't';
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  seq: bigint;
}

interface ModelRow {
  image: Record<string, unknown>;
  seq: bigint;
}

/** The sinks' job in miniature: apply events in order per key, version-guarded. */
export class CaptureModel {
  readonly rows = new Map<string, Map<string, ModelRow>>();
  applied = 0;
  /**
   * Tables checked the way a sink applies events (version-guarded upsert / delete) instead of
   * strictly: after a TRUNCATE, creates of keys the truncated table held arrive before the `t`
   * that drops the old rows (the marker is written when the relay notices the truncate).
   */
  readonly lenient = new Set<string>();
  /** The last events per table and key, and every `t`, for the failure message. */
  readonly #history = new Map<string, string[]>();
  readonly #truncates: string[] = [];

  #remember(table: string, key: string, e: ModelEvent): void {
    const id = `${table} ${key}`;
    const list = this.#history.get(id) ?? [];
    list.push(`${e.op}@${e.seq} ${JSON.stringify(e.after ?? e.before)}`);
    if (list.length > 8) list.shift();
    this.#history.set(id, list);
  }

  /** What the stream said about one row (its last events) and the truncates of its table. */
  history(table: string, key: string): string {
    const events = this.#history.get(`${table} ${key}`) ?? [];
    const truncates = this.#truncates.filter((t) => t.startsWith(`${table}@`));
    return `events: ${events.join(', ') || 'none'}${truncates.length ? `; truncates: ${truncates.join(', ')}` : ''}`;
  }
  constructor(private readonly schemas: Map<string, TableSchema>) {
    for (const t of schemas.keys()) this.rows.set(t, new Map());
  }

  keyOf(table: string, image: Record<string, unknown>): string {
    const schema = this.schemas.get(table);
    if (!schema) throw new Error(`event for unknown table ${table}`);
    return JSON.stringify(schema.primaryKey.map((c) => image[c]));
  }

  /**
   * Apply one event. c/u/d are checked against what the model holds (a create of a key that
   * exists, or a before image that differs from the last after image, means capture invented or
   * missed a change) and the first such mismatch is thrown with the event.
   */
  apply(e: ModelEvent): void {
    const rows = this.rows.get(e.table)!;
    this.applied++;
    if (e.op === 't') {
      this.#truncates.push(`${e.table}@${e.seq}`);
      for (const [k, row] of rows) if (row.seq < e.seq) rows.delete(k);
      return;
    }
    if (e.op === 'r') {
      const key = this.keyOf(e.table, e.after!);
      this.#remember(e.table, key, e);
      const held = rows.get(key);
      if (!held || held.seq < e.seq) rows.set(key, { image: e.after!, seq: e.seq });
      return;
    }
    const key = this.keyOf(e.table, (e.after ?? e.before)!);
    const held = rows.get(key);
    this.#remember(e.table, key, e);
    if (this.lenient.has(e.table)) {
      if (held && held.seq > e.seq) return;
      if (e.op === 'd') rows.delete(key);
      else rows.set(key, { image: e.after!, seq: e.seq });
      return;
    }
    const describe = () =>
      `${e.table} ${e.op} seq ${e.seq} key ${key}: before ${JSON.stringify(e.before)} after ${JSON.stringify(e.after)}; model holds ${held ? JSON.stringify(held.image) : 'no row'}`;
    if (e.op === 'c') {
      if (held) throw new Error(`create of a row that exists: ${describe()}`);
    } else if (!held || JSON.stringify(held.image) !== JSON.stringify(e.before)) {
      throw new Error(`before image differs from the last captured state: ${describe()}`);
    }
    if (e.op === 'd') rows.delete(key);
    else rows.set(key, { image: e.after!, seq: e.seq });
  }

  /** The first difference with the tables' current images, or null when equal. */
  diff(actual: Map<string, Map<string, Record<string, unknown>>>): string | null {
    for (const [table, rows] of actual) {
      const model = this.rows.get(table)!;
      for (const [key, image] of rows) {
        const held = model.get(key);
        if (!held)
          return `${table} ${key}: table has ${JSON.stringify(image)}, the captured stream has no row (${this.history(table, key)})`;
        if (JSON.stringify(held.image) !== JSON.stringify(image))
          return `${table} ${key}: table has ${JSON.stringify(image)}, the captured stream has ${JSON.stringify(held.image)} (seq ${held.seq}; ${this.history(table, key)})`;
      }
      for (const [key, held] of model)
        if (!rows.has(key))
          return `${table} ${key}: table has no row, the captured stream has ${JSON.stringify(held.image)} (seq ${held.seq}; ${this.history(table, key)})`;
    }
    return null;
  }
}

/** Every row of the tables as the capture's own image expressions render it, by key. */
export async function tableImages(
  conn: Connection | Pool,
  schemas: Map<string, TableSchema>,
  model: CaptureModel,
): Promise<Map<string, Map<string, Record<string, unknown>>>> {
  const out = new Map<string, Map<string, Record<string, unknown>>>();
  for (const [name, schema] of schemas) {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT ${rowImageExpression(schema, null)} AS img FROM ${quoteQualifiedTable(schema)}`,
    );
    const images = new Map<string, Record<string, unknown>>();
    for (const r of rows) {
      // mysql2 hands a JSON-typed result back already parsed.
      const image = (typeof r.img === 'string' ? JSON.parse(compactJson(r.img)) : r.img) as Record<
        string,
        unknown
      >;
      images.set(model.keyOf(name, image), image);
    }
    out.set(name, images);
  }
  return out;
}

const quoteQualifiedTable = (t: TableSchema) => `${quoteId(t.database)}.${quoteId(t.name)}`;

/** The changelog rows after `afterId`, as model events (reading the triggers' output directly). */
export async function changelogEvents(
  conn: Connection,
  database: string,
  afterId = 0n,
): Promise<ModelEvent[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT CAST(id AS CHAR) AS seq, tbl, op, before_image, after_image FROM ${quoteId(database)}._syncline_changelog WHERE id > ? ORDER BY id`,
    [afterId.toString()],
  );
  return rows.map((r) => ({
    table: String(r.tbl),
    op: String(r.op) as ModelEvent['op'],
    before:
      r.before_image === null
        ? null
        : (JSON.parse(compactJson(String(r.before_image))) as Record<string, unknown>),
    after:
      r.after_image === null
        ? null
        : (JSON.parse(compactJson(String(r.after_image))) as Record<string, unknown>),
    seq: BigInt(String(r.seq)),
  }));
}

// ---------------------------------------------------------------------------------------------
// The workload

export interface WorkloadOptions {
  pool: Pool;
  connections: number;
  transactions: number;
  seed: number;
  /** Include TRUNCATE TABLE kv2 (needs the relay's TRUNCATE detection). */
  truncate: boolean;
}

export interface WorkloadStats {
  statements: number;
  /** Statements the server refused (duplicate key, foreign key, ...): part of the workload. */
  statementErrors: number;
  transactions: number;
  commits: number;
  rollbacks: number;
  savepointRollbacks: number;
  deadlocks: number;
  lockWaits: number;
  truncates: number;
  /** Transactions the server had ended by itself (ROLLBACK TO SAVEPOINT found no savepoint). */
  lostTransactions: number;
  lostDetails: string[];
  /** Count per statement form, to show what the run covered. */
  forms: Record<string, number>;
}

export function emptyStats(): WorkloadStats {
  return {
    statements: 0,
    statementErrors: 0,
    transactions: 0,
    commits: 0,
    rollbacks: 0,
    savepointRollbacks: 0,
    deadlocks: 0,
    lockWaits: 0,
    truncates: 0,
    lostTransactions: 0,
    lostDetails: [],
    forms: {},
  };
}

export function addStats(into: WorkloadStats, from: WorkloadStats): void {
  for (const k of Object.keys(into) as (keyof WorkloadStats)[]) {
    if (k === 'forms') {
      for (const [f, n] of Object.entries(from.forms)) into.forms[f] = (into.forms[f] ?? 0) + n;
    } else if (k === 'lostDetails') into.lostDetails.push(...from.lostDetails);
    else into[k] += from[k];
  }
}

type Form = [name: string, sql: string, params: unknown[]];

/** One random statement. Small key ranges make conflicts, cascades and lock waits frequent. */
function randomStatement(rng: Rng, truncate: boolean): Form | null {
  const acct = () => rng.int(1, 24);
  const ordNo = () => rng.int(1, 3);
  const lineId = () => rng.int(1, 50);
  // tag.code is a key under the database's default _ci, PAD SPACE collation: t1, T1 and 't1 ' are
  // one key to MariaDB (an INSERT of one collides with the other, a cascade follows either) and
  // three keys downstream, where _id and Redis keys compare bytes.
  const code = () => {
    const n = rng.int(1, 8);
    return rng.pick([`t${n}`, `t${n}`, `T${n}`, `t${n} `]);
  };
  const names = ['ann', 'Ann', 'ANN', 'bob', 'Bob', 'cy', 'dee'];
  const name = () => names[rng.int(0, names.length - 1)]!;
  const email = () => (rng.chance(0.2) ? null : `e${rng.int(1, 30)}`);
  const rows = (n: number, row: () => unknown[]) => {
    const params: unknown[] = [];
    const marks: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = row();
      params.push(...r);
      marks.push(`(${r.map(() => '?').join(', ')})`);
    }
    return { marks: marks.join(', '), params };
  };
  const acctRow = () => [acct(), email(), name(), rng.int(0, 50)];
  const ordRow = () => [
    acct(),
    ordNo(),
    rng.chance(0.5) ? 'open' : 'paid',
    rng.chance(0.2) ? null : rng.int(1, 99),
  ];
  const lineRow = () => {
    const parented = rng.chance(0.7);
    return [
      lineId(),
      parented ? acct() : null,
      parented ? ordNo() : null,
      `s${rng.int(1, 5)}`,
      rng.int(1, 9),
    ];
  };
  const kvRow = () => [rng.int(1, 5), rng.int(1, 4), rng.chance(0.2) ? null : rng.int(1, 15), rng.int(0, 99)];
  const lo = acct();
  const hi = lo + rng.int(0, 4);
  // 0-41 are the forms; the rest repeat the plain inserts so that rows accumulate between the
  // cascading deletes and there is something for the other forms to conflict with.
  const drawn = rng.int(0, 56);
  const pick = drawn <= 42 ? drawn : [0, 16, 22, 22, 31, 27, 33][drawn % 7]!;
  switch (pick) {
    case 0:
    case 1: {
      const r = rows(rng.int(1, 3), acctRow);
      return ['insert acct', `INSERT INTO acct (id, email, name, score) VALUES ${r.marks}`, r.params];
    }
    case 2: {
      const r = rows(rng.int(1, 4), acctRow);
      return [
        'insert ignore acct',
        `INSERT IGNORE INTO acct (id, email, name, score) VALUES ${r.marks}`,
        r.params,
      ];
    }
    case 3: {
      // REPLACE deletes the conflicting rows (PRIMARY and UNIQUE email): ord rows cascade away.
      const r = rows(rng.int(1, 3), acctRow);
      return [
        'replace acct (cascades)',
        `REPLACE INTO acct (id, email, name, score) VALUES ${r.marks}`,
        r.params,
      ];
    }
    case 4: {
      const r = rows(rng.int(1, 3), acctRow);
      return [
        'odku acct',
        `INSERT INTO acct (id, email, name, score) VALUES ${r.marks} ON DUPLICATE KEY UPDATE score = VALUES(score), name = VALUES(name)`,
        r.params,
      ];
    }
    case 5: {
      const r = rows(1, acctRow);
      return [
        'odku acct no-op',
        `INSERT INTO acct (id, email, name, score) VALUES ${r.marks} ON DUPLICATE KEY UPDATE score = score`,
        r.params,
      ];
    }
    case 6:
      return ['update acct range', 'UPDATE acct SET score = score + 1 WHERE id BETWEEN ? AND ?', [lo, hi]];
    case 7:
    case 8:
      // Cascades into ord's key (d + c) and on into line (u).
      return ['update acct key move (cascades)', 'UPDATE acct SET id = ? WHERE id = ?', [acct(), acct()]];
    case 9:
      return ['update ignore acct key move', 'UPDATE IGNORE acct SET id = ? WHERE id = ?', [acct(), acct()]];
    case 10:
      return [
        'update ignore acct unique',
        'UPDATE IGNORE acct SET email = ? WHERE id = ?',
        [email(), acct()],
      ];
    case 11:
      return [
        'update acct case-only',
        `UPDATE acct SET name = ${rng.chance(0.5) ? 'UPPER' : 'LOWER'}(name) WHERE id = ?`,
        [acct()],
      ];
    case 12:
      return [
        'update acct no-op',
        'UPDATE acct SET score = score, name = name WHERE id BETWEEN ? AND ?',
        [lo, hi],
      ];
    case 13:
      return ['delete acct (cascades)', 'DELETE FROM acct WHERE id = ?', [acct()]];
    case 14:
      return ['delete acct range (cascades)', 'DELETE FROM acct WHERE id BETWEEN ? AND ?', [lo, lo + 1]];
    case 15:
      return ['delete ignore acct (cascades)', 'DELETE IGNORE FROM acct WHERE id BETWEEN ? AND ?', [lo, hi]];
    case 16:
    case 17: {
      const r = rows(rng.int(1, 3), ordRow);
      return [
        'insert ignore ord',
        `INSERT IGNORE INTO ord (acct_id, ord_no, status, amount) VALUES ${r.marks}`,
        r.params,
      ];
    }
    case 18: {
      const r = rows(1, ordRow);
      return [
        'odku ord',
        `INSERT INTO ord (acct_id, ord_no, status, amount) VALUES ${r.marks} ON DUPLICATE KEY UPDATE status = VALUES(status)`,
        r.params,
      ];
    }
    case 19:
      // A key move of ord cascades into line's (acct_id, ord_no).
      return [
        'update ord key move (cascades)',
        'UPDATE ord SET ord_no = ? WHERE acct_id = ? AND ord_no = ?',
        [ordNo(), acct(), ordNo()],
      ];
    case 20:
      return [
        'update ord',
        'UPDATE ord SET status = ?, amount = amount + 1 WHERE acct_id = ?',
        [rng.chance(0.5) ? 'open' : 'paid', acct()],
      ];
    case 21:
      return ['delete ord (set null)', 'DELETE FROM ord WHERE acct_id = ? AND ord_no = ?', [acct(), ordNo()]];
    case 22:
    case 23: {
      const r = rows(rng.int(1, 3), lineRow);
      return [
        'insert ignore line',
        `INSERT IGNORE INTO line (id, acct_id, ord_no, sku, qty) VALUES ${r.marks}`,
        r.params,
      ];
    }
    case 24:
      return [
        'update line range',
        'UPDATE line SET qty = qty + 1 WHERE id BETWEEN ? AND ?',
        [lineId(), lineId() + 5],
      ];
    case 25:
      return [
        'update line parent',
        'UPDATE line SET acct_id = ?, ord_no = ? WHERE id = ?',
        [acct(), ordNo(), lineId()],
      ];
    case 26:
      return ['delete line', 'DELETE FROM line WHERE id = ?', [lineId()]];
    case 27: {
      const r = rows(rng.int(1, 3), () => [code(), rng.chance(0.3) ? null : `L${rng.int(1, 9)}`]);
      return ['insert ignore tag', `INSERT IGNORE INTO tag (code, label) VALUES ${r.marks}`, r.params];
    }
    case 28:
      return ['update tag key (cascades)', 'UPDATE tag SET code = ? WHERE code = ?', [code(), code()]];
    case 29:
      return ['update ignore tag key', 'UPDATE IGNORE tag SET code = ? WHERE code = ?', [code(), code()]];
    case 30:
      // RESTRICT: fails (and under IGNORE is skipped) while item_tag rows use the tag.
      return ['delete ignore tag (restrict)', 'DELETE IGNORE FROM tag WHERE code = ?', [code()]];
    case 31: {
      const r = rows(rng.int(1, 3), () => [rng.int(1, 8), code(), rng.chance(0.5) ? null : 'n']);
      return [
        'insert ignore item_tag',
        `INSERT IGNORE INTO item_tag (item, code, note) VALUES ${r.marks}`,
        r.params,
      ];
    }
    case 32:
      return ['delete item_tag', 'DELETE FROM item_tag WHERE item = ?', [rng.int(1, 8)]];
    case 33:
    case 34: {
      // Several rows, each conflicting on PRIMARY and/or the UNIQUE u.
      const r = rows(rng.int(1, 4), kvRow);
      return ['replace kv2 multi-conflict', `REPLACE INTO kv2 (a, b, u, v) VALUES ${r.marks}`, r.params];
    }
    case 35:
      return [
        'insert select kv2',
        'INSERT IGNORE INTO kv2 (a, b, u, v) SELECT id % 5 + 1, score % 4 + 1, NULL, id FROM acct WHERE id BETWEEN ? AND ?',
        [lo, hi],
      ];
    case 36:
      return [
        'update ignore kv2 unique',
        'UPDATE IGNORE kv2 SET u = ? WHERE a = ?',
        [rng.int(1, 15), rng.int(1, 5)],
      ];
    case 37:
      return [
        'update kv2 key move',
        'UPDATE IGNORE kv2 SET b = b + 1 WHERE a = ? ORDER BY b DESC',
        [rng.int(1, 5)],
      ];
    case 38:
      return [
        'multi-table update',
        'UPDATE ord o JOIN acct a ON o.acct_id = a.id SET o.amount = a.score, a.score = a.score + 1 WHERE a.id BETWEEN ? AND ?',
        [lo, hi],
      ];
    case 39:
      return [
        'multi-table delete (cascades)',
        'DELETE o FROM ord o JOIN acct a ON a.id = o.acct_id WHERE a.id BETWEEN ? AND ? AND a.score > ?',
        [lo, hi, rng.int(0, 50)],
      ];
    case 40:
      return [
        'multi-table delete two tables',
        'DELETE a, k FROM acct a JOIN kv2 k ON k.a = a.id WHERE a.id BETWEEN ? AND ?',
        [lo, hi],
      ];
    case 41:
      return truncate ? ['truncate kv2', 'TRUNCATE TABLE kv2', []] : null;
    case 42:
      // The statement reads the child table the cascade changes.
      return [
        'delete acct reading ord (cascades)',
        'DELETE FROM acct WHERE id IN (SELECT acct_id FROM ord WHERE status = ? AND amount > ?)',
        [rng.chance(0.5) ? 'open' : 'paid', rng.int(50, 99)],
      ];
  }
  return null;
}

const ER_LOCK_DEADLOCK = 1213;
const ER_LOCK_WAIT_TIMEOUT = 1205;
const ER_SP_DOES_NOT_EXIST = 1305;

async function oneTransaction(
  conn: PoolConnection,
  rng: Rng,
  o: WorkloadOptions,
  stats: WorkloadStats,
): Promise<void> {
  const statements = rng.int(1, 6);
  stats.transactions++;
  await conn.query('START TRANSACTION');
  let savepoint = false;
  let lastError = '';
  try {
    for (let i = 0; i < statements; i++) {
      if (!savepoint && rng.chance(0.15)) {
        await conn.query('SAVEPOINT sp1');
        savepoint = true;
      }
      const form = randomStatement(rng, o.truncate);
      if (!form) continue;
      const [name, sql, params] = form;
      if (name.startsWith('truncate')) {
        // DDL commits the transaction implicitly: do it between transactions, as an application would.
        await conn.query('COMMIT');
        stats.commits++;
        await conn.query(sql);
        stats.truncates++;
        stats.statements++;
        stats.forms[name] = (stats.forms[name] ?? 0) + 1;
        await conn.query('START TRANSACTION');
        savepoint = false;
        continue;
      }
      stats.statements++;
      stats.forms[name] = (stats.forms[name] ?? 0) + 1;
      try {
        await conn.query(sql, params);
      } catch (err) {
        const errno = mysqlErrno(err);
        if (errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT) throw err;
        // Duplicate keys, foreign-key refusals, ...: InnoDB undid the statement; carry on.
        stats.statementErrors++;
        lastError = `${errno} ${(err as Error).message} (${sql})`;
      }
      if (savepoint && rng.chance(0.2)) {
        await conn.query('ROLLBACK TO SAVEPOINT sp1').catch((err: Error) => {
          // Seen once in a TRUNCATE run (rare, not reproduced): the server had ended the
          // transaction. The tables are the truth the model is compared with, so carry on.
          if (mysqlErrno(err) === ER_SP_DOES_NOT_EXIST)
            throw Object.assign(new Error(`${err.message}; before: ${lastError}`), { lost: true });
          throw err;
        });
        stats.savepointRollbacks++;
        savepoint = false;
      }
    }
    if (rng.chance(0.15)) {
      await conn.query('ROLLBACK');
      stats.rollbacks++;
    } else {
      await conn.query('COMMIT');
      stats.commits++;
    }
  } catch (err) {
    const errno = mysqlErrno(err);
    await conn.query('ROLLBACK').catch(() => undefined);
    stats.rollbacks++;
    if (errno === ER_LOCK_DEADLOCK) stats.deadlocks++;
    else if (errno === ER_LOCK_WAIT_TIMEOUT) stats.lockWaits++;
    else if ((err as { lost?: boolean }).lost) {
      stats.lostTransactions++;
      stats.lostDetails.push((err as Error).message);
    } else throw err;
  }
}

/**
 * `transactions` random transactions spread over `connections` concurrent connections. Deadlocks
 * and lock-wait timeouts roll the transaction back, as an application would; any other failure
 * of the workload itself is thrown.
 */
export async function runWorkload(o: WorkloadOptions): Promise<WorkloadStats> {
  const stats = emptyStats();
  let issued = 0;
  const worker = async (w: number): Promise<void> => {
    const rng = new Rng(o.seed * 7919 + w);
    const conn = await o.pool.getConnection();
    try {
      await conn.query('SET SESSION innodb_lock_wait_timeout = 3');
      while (issued < o.transactions) {
        issued++;
        await oneTransaction(conn, rng, o, stats);
      }
    } finally {
      conn.release();
    }
  };
  await Promise.all(Array.from({ length: o.connections }, (_, w) => worker(w)));
  return stats;
}
