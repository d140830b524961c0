// The demo's initial-load line: rows applied per table out of the rows seeded, the rate and an ETA
// a user can read, instead of totals that do not move while the first batches run (issue 13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProgressLine } from '../../src/pipeline/demo.ts';

const seeded = { customers: 10_000, products: 5_000, orders: 25_000, order_items: 60_000 };

test('before the first batch is applied the line shows 0 per table and no ETA yet', () => {
  assert.equal(
    loadProgressLine(seeded, new Map(), 4),
    'loading: 0% applied (customers 0/10,000 · products 0/5,000 · orders 0/25,000 · order_items 0/60,000) | 0 rows/s | ETA –',
  );
});

test('halfway the line shows rows applied per table, the rate so far and the time left at that rate', () => {
  const applied = new Map([
    ['customers', 10_000],
    ['products', 5_000],
    ['orders', 20_000],
    ['order_items', 15_000],
  ]);
  assert.equal(
    loadProgressLine(seeded, applied, 10),
    'loading: 50% applied (customers 10,000/10,000 · products 5,000/5,000 · orders 20,000/25,000 · order_items 15,000/60,000) | 5,000 rows/s | ETA 10 s',
  );
});

test('events beyond the seeded rows (live changes) never show more than 100%', () => {
  const applied = new Map(Object.entries(seeded).map(([t, n]) => [t, n + 500]));
  assert.match(loadProgressLine(seeded, applied, 20), /^loading: 100% applied .* \| done$/);
});
