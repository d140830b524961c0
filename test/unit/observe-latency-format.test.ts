/**
 * Before the first batch there is no latency to show (issue 13: the demo printed "commit→Redis
 * p50 ≤0 ms, p99 ≤0 ms" before any data). Status and the demo's live line show "–" until a
 * batch of the table has been measured, then the bucket bounds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatLatency,
  formatStatus,
  latencySummary,
  type PipelineStatus,
  type TableStatus,
} from '../../src/observe/status.ts';
import { statusLine } from '../../src/pipeline/demo.ts';

function status(batches: Record<string, unknown>[]): PipelineStatus {
  const table: TableStatus = {
    table: 'customers',
    topic: 'syncline.shop.customers',
    changelogBacklog: 0,
    kafkaEndOffset: '100000',
    sparkProcessedOffset: '0',
    kafkaLag: '100000',
    eventsPerSecond: 0,
    deadLetters: 0,
    latencyMs: { mongodb: latencySummary(batches, 'mongodb'), redis: latencySummary(batches, 'redis') },
    lastBatch: null,
  };
  return {
    name: 'syncline-shop',
    tables: [table],
    deadLetterTopic: { topic: 'syncline.dlq', messages: '0' },
    spark: { batches: batches.length, lastBatchAt: null, lastBatchMs: null, rowsPerSecond: 0 },
    generatedAt: new Date(0).toISOString(),
  };
}

test('before any batch, status and the demo line show – for the latency, not ≤0 ms', () => {
  const empty = status([]);
  assert.equal(formatLatency(empty.tables[0]!.latencyMs.redis), '–');
  assert.equal(formatLatency(null), '–');
  const table = formatStatus(empty).split('\n')[1]!;
  assert.match(table, /–\s+–$/);
  const line = statusLine(empty, 0);
  assert.match(line, /commit→Redis p50\/p99 –$/);
  assert.doesNotMatch(line, /≤0/);
});

test('once batches are measured, the bucket bounds are shown', () => {
  const measured = status([
    { 'latency.redis.le_50': 90, 'latency.redis.le_250': 10, 'latency.mongodb.le_100': 5 },
  ]);
  assert.equal(formatLatency(measured.tables[0]!.latencyMs.redis), '≤50/≤250 ms');
  assert.match(statusLine(measured, 12), /commit→Redis p50\/p99 ≤50\/≤250 ms$/);
  assert.match(formatStatus(measured).split('\n')[1]!, /≤100\/≤100 ms\s+≤50\/≤250 ms$/);
});
