// Invariant 10, "each sink at its own pace": with MongoDB unreachable, Redis still receives every
// change, each sink's lag is reported on its own, and once MongoDB is back its query catches up
// from its own checkpoint (decision 0040).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sinkCommittedOffsets, topicLag, endOffsets } from '../../src/observe/lag.ts';
import {
  dropCreatedFixtures,
  expectedKv,
  kvMessage,
  kvTable,
  produce,
  readKvState,
  runJob,
  sparkFixture,
  type KvEvent,
} from './spark-support.ts';
import { closedPort } from '../support/ports.ts';

// Jobs are stopped inside each test; what the fixtures put into the stack goes at the end.
after(dropCreatedFixtures);

test('with MongoDB unreachable Redis still applies every change, the lag is shown per sink, and MongoDB catches up when it is back', async () => {
  const f = await sparkFixture('spark_sink_pace', { tables: [kvTable()] });
  const events: KvEvent[] = [];
  for (let i = 0; i < 300; i++) events.push({ k: 1 + (i % 50), op: i < 50 ? 'c' : 'u', seq: 100 + i, v: i });
  await produce(
    f,
    events.map((e) => kvMessage(f.topics.kv!, e)),
  );
  const keys = Array.from({ length: 50 }, (_, i) => i + 1);
  const expected = expectedKv(events);

  const port = await closedPort();
  const down = runJob({
    ...f,
    env: { ...f.env, SYNCLINE_MONGODB_URI: `mongodb://127.0.0.1:${port}/?serverSelectionTimeoutMS=1500` },
  });
  try {
    const deadline = Date.now() + 120_000;
    let state = await readKvState(f, keys);
    while (keys.some((k) => JSON.stringify(state.redis.get(k)) !== JSON.stringify(expected.get(k)))) {
      assert.ok(Date.now() < deadline, `Redis did not receive every change while MongoDB was down`);
      assert.equal(down.child.exitCode, null, `the job exited:\n${down.logs.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
      state = await readKvState(f, keys);
    }
    assert.ok(
      keys.every((k) => state.mongo.get(k) === null),
      'nothing reached MongoDB (it was unreachable)',
    );
    const failedBy = Date.now() + 60_000;
    while (!down.logs.some((l) => l.includes('mongodb:shop.kv batch failed')) && Date.now() < failedBy)
      await new Promise((r) => setTimeout(r, 500));
    assert.ok(
      down.logs.some((l) => l.includes('mongodb:shop.kv batch failed')),
      `the MongoDB query reports its failures and retries; log:\n${down.logs.slice(-15).join('\n')}`,
    );
    const ends = await endOffsets({ brokers: f.stack.kafkaBrokers } as never, [f.topics.kv!]);
    const redisLagNow = () =>
      topicLag(f.topics.kv!, ends, sinkCommittedOffsets(f.job.checkpointLocation, 'redis', [f.topics.kv!]));
    // Spark records a batch as committed a moment after its writes are visible: wait for that.
    const committedBy = Date.now() + 30_000;
    while (redisLagNow().lag !== 0n && Date.now() < committedBy) await new Promise((r) => setTimeout(r, 250));
    const redisLag = redisLagNow();
    const mongoLag = topicLag(
      f.topics.kv!,
      ends,
      sinkCommittedOffsets(f.job.checkpointLocation, 'mongodb', [f.topics.kv!]),
    );
    assert.equal(redisLag.lag, 0n, 'Redis has no lag');
    assert.equal(mongoLag.lag, BigInt(events.length), 'MongoDB lags by every event');
  } finally {
    await down.stop();
  }

  // MongoDB is back: its query starts from its own checkpoint and catches up; Redis had nothing left.
  const up = runJob(f);
  try {
    const deadline = Date.now() + 120_000;
    let state = await readKvState(f, keys);
    while (keys.some((k) => JSON.stringify(state.mongo.get(k)) !== JSON.stringify(expected.get(k)))) {
      assert.ok(Date.now() < deadline, 'MongoDB did not catch up after it came back');
      await new Promise((r) => setTimeout(r, 500));
      state = await readKvState(f, keys);
    }
    for (const k of keys) assert.deepEqual(state.redis.get(k), expected.get(k), `Redis key ${k}`);
    assert.ok(
      up.progress.every((p) => p.sink === 'mongodb'),
      'only the MongoDB query had events left to process',
    );
  } finally {
    await up.stop();
  }
});

test('a checkpoint of the single query of earlier versions is continued by every sink query: nothing it committed is read again, nothing after it is lost', async () => {
  const f = await sparkFixture('spark_upgrade', { tables: [kvTable()] });
  const topic = f.topics.kv!;
  const early: KvEvent[] = Array.from({ length: 40 }, (_, i) => ({ k: i + 1, op: 'c', seq: 100 + i, v: i }));
  await produce(
    f,
    early.map((e) => kvMessage(topic, e)),
  );
  // What the earlier single query leaves behind after committing batch 0 up to here.
  const ends = (await endOffsets({ brokers: f.stack.kafkaBrokers } as never, [topic])).get(topic)!;
  mkdirSync(join(f.job.checkpointLocation, 'offsets'), { recursive: true });
  mkdirSync(join(f.job.checkpointLocation, 'commits'), { recursive: true });
  const partitions = Object.fromEntries(ends.map((o, p) => [String(p), Number(o)]));
  writeFileSync(
    join(f.job.checkpointLocation, 'offsets', '0'),
    `v1\n{"batchWatermarkMs":0,"batchTimestampMs":0,"conf":{}}\n${JSON.stringify({ [topic]: partitions })}`,
  );
  writeFileSync(join(f.job.checkpointLocation, 'commits', '0'), 'v1\n{"nextBatchWatermarkMs":0}');

  const later: KvEvent[] = Array.from({ length: 30 }, (_, i) => ({
    k: 100 + i,
    op: 'c',
    seq: 500 + i,
    v: i,
  }));
  await produce(
    f,
    later.map((e) => kvMessage(topic, e)),
  );
  const run = runJob(f);
  try {
    await run.waitForRows(later.length);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(run.processed(), later.length, 'each sink read only the events after the old checkpoint');
    const state = await readKvState(f, [1, 2, ...later.map((e) => e.k)]);
    for (const e of later) {
      assert.deepEqual(state.mongo.get(e.k), { v: e.v, seq: e.seq }, `MongoDB key ${e.k}`);
      assert.deepEqual(state.redis.get(e.k), { v: e.v, seq: e.seq }, `Redis key ${e.k}`);
    }
    assert.equal(state.redis.get(1), null, 'events the old query had committed are not read again');
  } finally {
    await run.stop();
  }
});
