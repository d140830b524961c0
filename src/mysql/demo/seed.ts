// Deterministic demo data: the same --rows and --seed give byte-identical tables on any machine.
import mysql from 'mysql2';
import type { Connection } from 'mysql2/promise';
import { quoteId } from '../identifiers.ts';
import { DEMO_DDL, DEMO_TABLES } from './schema.ts';
import { CATEGORIES, COUNTRIES, FIRST_NAMES, LAST_NAMES, Rng, STATUSES, TAGS, WORDS } from './random.ts';

const esc = (v: string | number | null): string => mysql.escape(v);

// Fixed base time so generated timestamps do not depend on when the seed runs.
const BASE_MS = Date.UTC(2024, 0, 1);

function stamp(ms: number, fsp: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-01T00:00:00.000Z
  const base = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  if (fsp === 0) return base;
  const micros = String(Math.floor(ms % 1000) * 1000 + (Math.floor(ms * 7) % 1000)).padStart(6, '0');
  return `${base}.${micros.slice(0, fsp)}`;
}

export function customerValues(rng: Rng, id: number | bigint): string {
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  const email = `${first}.${last}.${id}@example.com`.toLowerCase().replace(/[^a-z0-9.@]/g, 'x');
  const birth = rng.chance(0.8)
    ? `'${1950 + rng.int(0, 55)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}'`
    : 'NULL';
  const prefs = rng.chance(0.7)
    ? esc(
        JSON.stringify({
          newsletter: rng.chance(0.5),
          lang: rng.pick(['en', 'de', 'fr', 'ja']),
          sizes: [rng.int(36, 46)],
        }),
      )
    : 'NULL';
  const created = stamp(BASE_MS + rng.int(0, 300 * 86400) * 1000 + rng.int(0, 999), 6);
  return `(${id}, ${esc(email)}, ${esc(first)}, ${esc(last)}, '${rng.pick(COUNTRIES)}', ${birth}, ${rng.int(0, 5000)}, ${rng.chance(0.9) ? 1 : 0}, b'${rng.chance(0.4) ? 1 : 0}', ${prefs}, '${created}', '${created}')`;
}

export const CUSTOMER_COLUMNS =
  '(id, email, first_name, last_name, country, birth_date, loyalty_points, is_active, marketing_opt_in, preferences, created_at, updated_at)';

export function productValues(rng: Rng, id: number): string {
  const name = `${rng.pick(WORDS)} ${rng.pick(WORDS)} ${id}`;
  const tags = TAGS.filter(() => rng.chance(0.3)).join(',');
  const thumb = rng.chance(0.5)
    ? `X'${Buffer.from(Array.from({ length: 8 }, () => rng.int(0, 255))).toString('hex')}'`
    : 'NULL';
  const attrs = rng.chance(0.6)
    ? esc(
        JSON.stringify({
          color: rng.pick(['red', 'green', 'blue']),
          dims: { w: rng.int(1, 90), h: rng.int(1, 90) },
        }),
      )
    : 'NULL';
  const price = `${rng.int(0, 99_999)}.${String(rng.int(0, 99)).padStart(2, '0')}`;
  return `(${id}, 'SKU-${id}', ${esc(name)}, ${rng.chance(0.7) ? esc(`A fine ${name}.`) : 'NULL'}, '${rng.pick(CATEGORIES)}', '${tags}', ${price}, ${rng.chance(0.8) ? (rng.int(1, 50_000) / 1000).toFixed(3) : 'NULL'}, ${rng.chance(0.7) ? (rng.next() * 5).toFixed(6) : 'NULL'}, ${rng.int(0, 1000)}, ${rng.chance(0.8) ? rng.int(1990, 2025) : 'NULL'}, ${thumb}, ${attrs}, '${stamp(BASE_MS + rng.int(0, 300 * 86400) * 1000, 0)}')`;
}

export const PRODUCT_COLUMNS =
  '(id, sku, name, description, category, tags, price, weight_kg, rating, stock, release_year, thumbnail, attributes, created_at)';

export function orderValues(rng: Rng, id: number | bigint, customerId: number | bigint): string {
  const window = rng.chance(0.6) ? `'${String(rng.int(8, 20)).padStart(2, '0')}:00:00'` : 'NULL';
  return `(${id}, ${customerId}, '${rng.pick(STATUSES)}', ${rng.int(0, 500_000) / 100}, '${rng.pick(['EUR', 'USD', 'JPY'])}', '${stamp(BASE_MS + rng.int(0, 300 * 86400) * 1000 + rng.int(0, 999), 3)}', ${window}, b'${rng.int(0, 255).toString(2)}', ${rng.chance(0.2) ? esc(`leave at door ${rng.pick(WORDS)}`) : 'NULL'})`;
}

export const ORDER_COLUMNS =
  '(id, customer_id, status, total, currency, placed_at, delivery_window, flags, notes)';

export function itemValues(rng: Rng, orderId: number | bigint, lineNo: number, productId: number): string {
  return `(${orderId}, ${lineNo}, ${productId}, ${rng.int(1, 9)}, ${rng.int(1, 20_000) / 100}, ${rng.chance(0.2) ? (rng.int(0, 5000) / 10000).toFixed(4) : 0})`;
}

export const ITEM_COLUMNS = '(order_id, line_no, product_id, quantity, unit_price, discount)';

export interface SeedCounts {
  customers: number;
  products: number;
  orders: number;
  order_items: number;
}

/** Split a total row count over the four tables (10% / 5% / 25% / 60%). */
export function seedCounts(rows: number): SeedCounts {
  const customers = Math.max(1, Math.round(rows * 0.1));
  const products = Math.max(1, Math.round(rows * 0.05));
  const orders = Math.max(1, Math.round(rows * 0.25));
  const order_items = Math.max(0, rows - customers - products - orders);
  return { customers, products, orders, order_items };
}

/** Create the demo tables in `database` (created if missing). With reset, drop them first. */
export async function createDemoSchema(
  conn: Connection,
  database: string,
  options: { reset?: boolean } = {},
): Promise<void> {
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoteId(database)} CHARACTER SET utf8mb4`);
  await conn.query(`USE ${quoteId(database)}`);
  if (options.reset) {
    for (const table of [...DEMO_TABLES].reverse())
      await conn.query(`DROP TABLE IF EXISTS ${quoteId(table)}`);
  }
  for (const ddl of DEMO_DDL) await conn.query(ddl.replace(/^CREATE TABLE /, 'CREATE TABLE IF NOT EXISTS '));
}

const BATCH = 2000;

async function insertBatched(
  conn: Connection,
  table: string,
  columns: string,
  count: number,
  row: (i: number) => string,
): Promise<void> {
  for (let start = 0; start < count; start += BATCH) {
    const end = Math.min(count, start + BATCH);
    const values: string[] = [];
    for (let i = start; i < end; i++) values.push(row(i));
    await conn.query(`INSERT INTO ${quoteId(table)} ${columns} VALUES ${values.join(',')}`);
  }
}

/**
 * Fill the demo tables with `rows` rows in total. Ids start at 1, so seeding is meant for empty
 * tables (use createDemoSchema with reset).
 */
export async function seedDemo(
  conn: Connection,
  database: string,
  rows: number,
  seed = 1,
): Promise<SeedCounts> {
  const counts = seedCounts(rows);
  const rng = new Rng(seed);
  await conn.query(`USE ${quoteId(database)}`);
  // The generated rows satisfy the keys by construction; skipping the checks roughly halves the time.
  await conn.query('SET SESSION foreign_key_checks = 0, unique_checks = 0');
  try {
    await conn.query('START TRANSACTION');
    await insertBatched(conn, 'customers', CUSTOMER_COLUMNS, counts.customers, (i) =>
      customerValues(rng, i + 1),
    );
    await insertBatched(conn, 'products', PRODUCT_COLUMNS, counts.products, (i) => productValues(rng, i + 1));
    await insertBatched(conn, 'orders', ORDER_COLUMNS, counts.orders, (i) =>
      orderValues(rng, i + 1, rng.int(1, counts.customers)),
    );
    await insertBatched(conn, 'order_items', ITEM_COLUMNS, counts.order_items, (i) =>
      itemValues(
        rng,
        (i % counts.orders) + 1,
        Math.floor(i / counts.orders) + 1,
        rng.int(1, counts.products),
      ),
    );
    await conn.query('COMMIT');
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await conn.query('SET SESSION foreign_key_checks = 1, unique_checks = 1');
  }
  return counts;
}
