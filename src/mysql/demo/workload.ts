// A live workload on the demo schema: mixed inserts, updates and deletes in real transactions,
// from N concurrent connections at a target rate. Used by `syncline demo workload`, the demo and
// tests that need traffic.
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { createPool, type MysqlTarget } from '../connect.ts';
import { quoteId } from '../identifiers.ts';
import { Rng, STATUSES } from './random.ts';
import {
  CUSTOMER_COLUMNS,
  ITEM_COLUMNS,
  ORDER_COLUMNS,
  customerValues,
  itemValues,
  orderValues,
} from './seed.ts';

export interface WorkloadOptions {
  target: MysqlTarget;
  database: string;
  /** Transactions per second over all connections; 0 = as fast as possible. */
  ratePerSecond: number;
  connections: number;
  /** Stop after this long… */
  durationMs?: number;
  /** …or after this many transactions… */
  transactions?: number;
  /** …or when aborted. */
  signal?: AbortSignal;
  seed?: number;
  /** Relative weights of the operation kinds (pkChange and rollback default to 0.5 each). */
  mix?: { insert: number; update: number; delete: number; pkChange?: number; rollback?: number };
}

export interface WorkloadStats {
  transactions: number;
  inserts: number;
  updates: number;
  deletes: number;
  /** Updates that moved an order line to another primary key (a delete + create downstream). */
  pkChanges: number;
  /** Transactions that wrote and then rolled back on purpose: nothing of them may reach a sink. */
  rollbacks: number;
  /** Transactions that failed (deadlock, lock timeout, lost connection) and were rolled back. */
  errors: number;
  elapsedMs: number;
}

interface Ids {
  customer: bigint;
  order: bigint;
  products: number;
}

async function maxId(pool: Pool, table: string): Promise<bigint> {
  const [rows] = await pool.query<RowDataPacket[]>(`SELECT COALESCE(MAX(id), 0) AS m FROM ${quoteId(table)}`);
  return BigInt(String(rows[0]?.m ?? 0));
}

function randomBelow(rng: Rng, max: bigint): bigint {
  if (max <= 0n) return 1n;
  return BigInt(Math.floor(rng.next() * Number(max))) + 1n;
}

async function inTransaction(conn: PoolConnection, work: () => Promise<void>): Promise<void> {
  await conn.query('START TRANSACTION');
  try {
    await work();
    await conn.query('COMMIT');
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

type Kind = 'insert' | 'update' | 'delete' | 'pkChange' | 'rollback';

/** Customer ids of rolled-back inserts: far above the live ones, so no order ever refers to one. */
const ROLLED_BACK_IDS = 1n << 40n;

async function oneTransaction(conn: PoolConnection, rng: Rng, ids: Ids, kind: Kind): Promise<void> {
  if (kind === 'pkChange') {
    await conn.query('UPDATE order_items SET line_no = line_no + 100 WHERE order_id = ? AND line_no = 1', [
      String(randomBelow(rng, ids.order)),
    ]);
    return;
  }
  if (kind === 'rollback') {
    await conn.query('START TRANSACTION');
    try {
      await conn.query(
        `INSERT INTO customers ${CUSTOMER_COLUMNS} VALUES ${customerValues(rng, ROLLED_BACK_IDS + BigInt(rng.int(1, 1_000_000)))}`,
      );
      await conn.query("UPDATE orders SET notes = 'rolled back' WHERE id = ?", [
        String(randomBelow(rng, ids.order)),
      ]);
    } finally {
      await conn.query('ROLLBACK');
    }
    return;
  }
  if (kind === 'insert') {
    if (rng.chance(0.3)) {
      const id = ++ids.customer;
      await conn.query(`INSERT INTO customers ${CUSTOMER_COLUMNS} VALUES ${customerValues(rng, id)}`);
      return;
    }
    const id = ++ids.order;
    const customer = randomBelow(rng, ids.customer);
    await inTransaction(conn, async () => {
      await conn.query(`INSERT INTO orders ${ORDER_COLUMNS} VALUES ${orderValues(rng, id, customer)}`);
      const lines = rng.int(1, 3);
      const values = Array.from({ length: lines }, (_, i) =>
        itemValues(rng, id, i + 1, rng.int(1, ids.products)),
      );
      await conn.query(`INSERT INTO order_items ${ITEM_COLUMNS} VALUES ${values.join(',')}`);
    });
    return;
  }
  if (kind === 'update') {
    const which = rng.int(0, 2);
    if (which === 0) {
      await conn.query(
        'UPDATE customers SET loyalty_points = loyalty_points + ?, is_active = ? WHERE id = ?',
        [rng.int(1, 50), rng.chance(0.9) ? 1 : 0, String(randomBelow(rng, ids.customer))],
      );
    } else if (which === 1) {
      await conn.query('UPDATE orders SET status = ?, notes = ? WHERE id = ?', [
        rng.pick(STATUSES),
        rng.chance(0.5) ? `updated ${rng.int(1, 1000)}` : null,
        String(randomBelow(rng, ids.order)),
      ]);
    } else {
      await conn.query('UPDATE products SET price = ?, stock = ? WHERE id = ?', [
        `${rng.int(1, 9999)}.${String(rng.int(0, 99)).padStart(2, '0')}`,
        rng.int(0, 1000),
        rng.int(1, ids.products),
      ]);
    }
    return;
  }
  const order = String(randomBelow(rng, ids.order));
  await inTransaction(conn, async () => {
    // Children first: foreign keys restrict, and a cascade would not fire the capture triggers.
    await conn.query('DELETE FROM order_items WHERE order_id = ?', [order]);
    await conn.query('DELETE FROM orders WHERE id = ?', [order]);
  });
}

/** Run the workload until the duration, transaction count or signal says stop. */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadStats> {
  const pool = createPool({ ...options.target, database: options.database }, options.connections);
  const stats: WorkloadStats = {
    transactions: 0,
    inserts: 0,
    updates: 0,
    deletes: 0,
    pkChanges: 0,
    rollbacks: 0,
    errors: 0,
    elapsedMs: 0,
  };
  const mix = { insert: 5, update: 4, delete: 1, pkChange: 0.5, rollback: 0.5, ...options.mix };
  const kinds: [Kind, number][] = [
    ['insert', mix.insert],
    ['update', mix.update],
    ['delete', mix.delete],
    ['pkChange', mix.pkChange],
    ['rollback', mix.rollback],
  ];
  const totalWeight = kinds.reduce((a, [, w]) => a + w, 0);
  const statName = {
    insert: 'inserts',
    update: 'updates',
    delete: 'deletes',
    pkChange: 'pkChanges',
    rollback: 'rollbacks',
  } as const;
  const started = Date.now();
  try {
    const ids: Ids = {
      customer: await maxId(pool, 'customers'),
      order: await maxId(pool, 'orders'),
      products: Number(await maxId(pool, 'products')),
    };
    if (ids.customer === 0n || ids.products === 0) {
      throw new Error(
        `database ${options.database} has no demo customers/products: run \`syncline demo seed\` first`,
      );
    }
    let issued = 0;
    const done = (): boolean =>
      Boolean(options.signal?.aborted) ||
      (options.durationMs !== undefined && Date.now() - started >= options.durationMs) ||
      (options.transactions !== undefined && issued >= options.transactions);

    const worker = async (index: number): Promise<void> => {
      const rng = new Rng((options.seed ?? 1) * 7919 + index);
      let conn: PoolConnection | null = null;
      try {
        while (!done()) {
          const n = issued++;
          if (options.ratePerSecond > 0) {
            const due = started + (n * 1000) / options.ratePerSecond;
            const wait = due - Date.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            if (done()) break;
          }
          let roll = rng.next() * totalWeight;
          const kind = kinds.find(([, w]) => (roll -= w) < 0)?.[0] ?? 'insert';
          try {
            conn ??= await pool.getConnection();
            await oneTransaction(conn, rng, ids, kind);
            stats.transactions++;
            stats[statName[kind]]++;
          } catch (err) {
            stats.errors++;
            // A lost connection (MariaDB restarted) is replaced, so writers carry on after an
            // outage the way an application's pool does; the pause keeps a down server from
            // being hammered.
            if (conn === null || (err as { fatal?: boolean }).fatal) {
              conn?.destroy();
              conn = null;
              await new Promise((r) => setTimeout(r, 250));
            }
          }
        }
      } finally {
        conn?.release();
      }
    };
    await Promise.all(Array.from({ length: options.connections }, (_, i) => worker(i)));
  } finally {
    stats.elapsedMs = Date.now() - started;
    await pool.end();
  }
  return stats;
}
