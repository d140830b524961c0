// Lag per sink (decision 0040): each sink's query keeps its own checkpoint; a topic whose query has
// none yet is where the single query of earlier versions left it, since the new query starts there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sinkCommittedOffsets, topicLag } from '../../src/observe/lag.ts';

function checkpoint(dir: string, batch: number, offsets: Record<string, Record<string, number>>): void {
  mkdirSync(join(dir, 'offsets'), { recursive: true });
  mkdirSync(join(dir, 'commits'), { recursive: true });
  writeFileSync(
    join(dir, 'offsets', String(batch)),
    `v1\n{"batchWatermarkMs":0}\n${JSON.stringify(offsets)}\n`,
  );
  writeFileSync(join(dir, 'commits', String(batch)), 'v1\n{}\n');
}

test('each sink reports its own position, and a sink without a checkpoint yet stands where the old single query committed', () => {
  const cp = mkdtempSync(join(tmpdir(), 'syncline-lag-'));
  checkpoint(cp, 4, { 't.a': { '0': 10, '1': 20 }, 't.b': { '0': 5 } });
  checkpoint(join(cp, 'sinks', 'redis', 't.a'), 2, { 't.a': { '0': 40, '1': 50 } });
  const ends = new Map([
    ['t.a', [40n, 60n]],
    ['t.b', [7n]],
  ]);
  const redis = sinkCommittedOffsets(cp, 'redis', ['t.a', 't.b']);
  const mongo = sinkCommittedOffsets(cp, 'mongodb', ['t.a', 't.b']);
  assert.equal(topicLag('t.a', ends, redis).lag, 10n, 'Redis: its own checkpoint');
  assert.equal(topicLag('t.a', ends, mongo).lag, 70n, 'MongoDB: the old checkpoint');
  assert.equal(topicLag('t.b', ends, redis).lag, 2n, 'Redis on t.b: the old checkpoint');
  assert.equal(topicLag('t.b', ends, sinkCommittedOffsets(join(cp, 'none'), 'redis', ['t.b'])).lag, 7n);
});

test('in real-time mode the applied position of each partition counts when it is ahead of the last checkpoint', () => {
  const cp = mkdtempSync(join(tmpdir(), 'syncline-lag-'));
  const query = join(cp, 'sinks', 'redis', 't.a');
  checkpoint(query, 3, { 't.a': { '0': 10, '1': 20 } });
  mkdirSync(join(query, 'applied'), { recursive: true });
  writeFileSync(join(query, 'applied', 't.a-0'), '35');
  // Behind the checkpoint (written before a crash, then replayed past): the checkpoint wins.
  writeFileSync(join(query, 'applied', 't.a-1'), '15');
  // Not a position: ignored, never an error.
  writeFileSync(join(query, 'applied', '.t.a-0.tmp'), '99');
  writeFileSync(join(query, 'applied', 't.a-x'), '99');
  const ends = new Map([['t.a', [40n, 20n]]]);
  const redis = sinkCommittedOffsets(cp, 'redis', ['t.a']);
  assert.deepEqual(
    [...redis.get('t.a')!.entries()],
    [
      [0, 35n],
      [1, 20n],
    ],
  );
  assert.equal(topicLag('t.a', ends, redis).lag, 5n);
});

test('a table first read once for both sinks counts, for each sink, as far as the shared read applied or its own query got', () => {
  const cp = mkdtempSync(join(tmpdir(), 'syncline-lag-'));
  const shared = join(cp, 'shared', 't.a');
  checkpoint(shared, 0, { 't.a': { '0': 30, '1': 10 } });
  mkdirSync(join(shared, 'applied'), { recursive: true });
  writeFileSync(join(shared, 'applied', 't.a-1'), '25');
  // After the hand-over the Redis query has gone further on partition 0 only.
  mkdirSync(join(cp, 'sinks', 'redis', 't.a', 'applied'), { recursive: true });
  writeFileSync(join(cp, 'sinks', 'redis', 't.a', 'applied', 't.a-0'), '38');
  const ends = new Map([['t.a', [40n, 30n]]]);
  assert.equal(topicLag('t.a', ends, sinkCommittedOffsets(cp, 'redis', ['t.a'])).lag, 7n, 'Redis: 2 + 5');
  assert.equal(
    topicLag('t.a', ends, sinkCommittedOffsets(cp, 'mongodb', ['t.a'])).lag,
    15n,
    'MongoDB: 10 + 5',
  );
});
