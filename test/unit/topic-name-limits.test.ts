// Topic names of long unicode database/table names stay within Kafka's 249 characters, stay
// distinct, and names that already fit keep the topic they always had.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topicName } from '../../src/model/event.ts';

test('a 64-character CJK database and table name get a legal, distinct topic of at most 249 characters', () => {
  const db = '中'.repeat(64);
  const a = topicName('syncline', db, 'テ'.repeat(64));
  const b = topicName('syncline', db, `${'テ'.repeat(63)}ー`);
  for (const t of [a, b]) {
    assert.ok(t.length <= 249, `${t.length} characters`);
    assert.match(t, /^syncline\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  }
  assert.notEqual(a, b);
  assert.equal(topicName('syncline', db, 'テ'.repeat(64)), a, 'deterministic');
  // A short table name next to a long database name keeps its readable escaped form.
  assert.match(topicName('syncline', db, 'orders'), /\.orders$/);
});

test('names that fit keep their unshortened topic, and a too-long prefix is named as the setting to change', () => {
  assert.equal(topicName('syncline', 'shop', 'order_items'), 'syncline.shop.order_items');
  const fits = 'x'.repeat(120);
  assert.equal(topicName('p', fits, fits), `p.${fits}.${fits}`);
  assert.throws(() => topicName('p'.repeat(220), 'db', 'x'.repeat(64)), /kafka\.topicPrefix .* too long/);
});
