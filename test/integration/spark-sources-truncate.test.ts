// Issue 11 in the Spark job: entries carry their source's id, and a pipeline never overwrites (or
// compares versions with) another source's entries; a TRUNCATE event (op t, null key, one copy per
// partition) removes every older entry of the table from both sinks, and no replay of an event
// from before it brings a row back.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readTopics } from '../../src/kafka/client.ts';
import { writeJobFile } from '../../src/spark/launcher.ts';
import {
  dropCreatedFixtures,
  kvMessage,
  kvTable,
  kvTruncateMessages,
  produce,
  readKvState,
  runJob,
  sparkFixture,
  withSinks,
  type KvEvent,
  type SparkFixture,
} from './spark-support.ts';

// Jobs are stopped inside each test; what the fixtures put into the stack goes at the end.
after(dropCreatedFixtures);

/** Runs the job over what Kafka holds now and waits for it to exit. */
async function drain(f: SparkFixture, maxOffsetsPerTrigger?: number): Promise<ReturnType<typeof runJob>> {
  const file = writeJobFile(
    {
      ...f.job,
      availableNow: true,
      kafka: { ...f.job.kafka, ...(maxOffsetsPerTrigger ? { maxOffsetsPerTrigger } : {}) },
    },
    `${f.stateDir}/drain.json`,
  );
  const run = runJob(f, { jobFile: file });
  const code = await run.exited;
  assert.equal(code, 0, `the job failed:\n${run.logs.slice(-20).join('\n')}`);
  return run;
}

const ruleCount = (run: ReturnType<typeof runJob>, rule: string): number =>
  run.progress.reduce(
    (a, p) => a + Number((p.tables['shop.kv']?.dlqRules as Record<string, number> | undefined)?.[rule] ?? 0),
    0,
  );

test('a second source mapped onto the same Redis keys and MongoDB documents is dead-lettered and counted, and the first source keeps its entries', async () => {
  const a = await sparkFixture('spark_src_a', { tables: [kvTable()] });
  const b = await sparkFixture('spark_src_b', {
    tables: [kvTable()],
    settings: () => ({ redis: { keyTemplate: `${a.redisPrefix}:{table}:{key}` } }),
    inputs: {
      source: { id: 'source-b-0000', label: 'shop@other-server:3306' },
      sinks: { mongodb: { database: a.mongoDb }, redis: {} },
    },
  });
  // Source A: keys 1..10, then key 5 deleted (its tombstone belongs to A).
  const aEvents: KvEvent[] = Array.from({ length: 10 }, (_, i) => ({
    k: i + 1,
    op: 'c',
    seq: 100 + i,
    v: i + 1,
  }));
  aEvents.push({ k: 5, op: 'd', seq: 150, v: 5 });
  await produce(
    a,
    aEvents.map((e) => kvMessage(a.topics.kv!, e)),
  );
  await drain(a);
  // Source B numbers its changes on its own: much higher seqs for the same keys, a delete of key 3,
  // and key 11 that A never wrote.
  const bEvents: KvEvent[] = Array.from({ length: 10 }, (_, i) => ({
    k: i + 1,
    op: 'u',
    seq: 5000 + i,
    v: 900 + i,
  }));
  bEvents.push({ k: 3, op: 'd', seq: 6000, v: 0 }, { k: 11, op: 'c', seq: 6001, v: 911 });
  await produce(
    b,
    bEvents.map((e) => kvMessage(b.topics.kv!, e)),
  );
  const run = await drain(b);

  const keys = Array.from({ length: 11 }, (_, i) => i + 1);
  const state = await readKvState(a, keys);
  for (const k of keys.slice(0, 10)) {
    const want = k === 5 ? null : { v: k, seq: 99 + k };
    assert.deepEqual(state.mongo.get(k), want, `MongoDB key ${k} still holds source A's row`);
    assert.deepEqual(state.redis.get(k), want, `Redis key ${k} still holds source A's row`);
  }
  assert.deepEqual(state.mongo.get(11), { v: 911, seq: 6001 }, "B's own key is written to MongoDB");
  assert.deepEqual(state.redis.get(11), { v: 911, seq: 6001 }, "B's own key is written to Redis");
  await withSinks(a, async (mongo, redis) => {
    const doc = await mongo
      .db(a.mongoDb)
      .collection('kv')
      .findOne({ _id: 11 as never });
    assert.equal(doc?._sync?.src, 'source-b-0000', 'MongoDB documents carry _sync.src');
    assert.equal(
      await redis.hGet(`${a.redisPrefix}:kv:1`, '_sync_src'),
      a.job.source.id,
      'Redis hashes carry _sync_src',
    );
  });

  // Keys 1..10 (key 3 collapses to its delete; key 5 meets A's tombstone), in both sinks.
  assert.equal(ruleCount(run, 'redis:foreign_source'), 10, 'every refused Redis write is counted');
  assert.equal(ruleCount(run, 'mongodb:foreign_source'), 10, 'every refused MongoDB write is counted');
  const letters = (await readTopics({ brokers: b.stack.kafkaBrokers } as never, [b.dlqTopic])).map(
    (m) => JSON.parse(m.value ?? 'null') as { rule: string; message: string; key: string },
  );
  assert.equal(letters.length, 20, 'one dead letter per refused write and sink');
  const redisLetter = letters.find((l) => l.rule === 'redis:foreign_source' && l.key === '{"k":1}');
  assert.ok(redisLetter, 'a Redis dead letter for key 1');
  for (const part of [
    a.job.source.id,
    'source-b-0000',
    'shop@other-server:3306',
    `${a.redisPrefix}:kv:1`,
    'key template',
  ])
    assert.ok(redisLetter.message.includes(part), `the Redis message names ${part}: ${redisLetter.message}`);
  const mongoLetter = letters.find((l) => l.rule === 'mongodb:foreign_source' && l.key === '{"k":5}');
  assert.ok(mongoLetter, "a MongoDB dead letter for key 5 (A's tombstone)");
  assert.ok(
    mongoLetter.message.includes(a.job.source.id) && mongoLetter.message.includes('sinks.mongodb.database'),
  );
});

test('a TRUNCATE on every partition leaves exactly the rows written after it, and replaying the events from before it resurrects nothing', async () => {
  const f = await sparkFixture('spark_truncate', { tables: [kvTable()] });
  const keys = Array.from({ length: 40 }, (_, i) => i + 1);
  const before: KvEvent[] = [];
  let seq = 100;
  for (const k of keys.slice(0, 30)) before.push({ k, op: 'c', seq: seq++, v: k });
  for (const k of keys.slice(0, 20)) before.push({ k, op: 'u', seq: seq++, v: 100 + k });
  before.push({ k: 7, op: 'd', seq: seq++, v: 0 });
  const truncateSeq = 500;
  // After the truncate the relay publishes the rows the table still holds (snapshot r events,
  // here keys 1..5) and then new changes (key 40).
  const afterEvents: KvEvent[] = keys.slice(0, 5).map((k, i) => ({ k, op: 'c', seq: 501 + i, v: 1000 + k }));
  afterEvents.push({ k: 40, op: 'c', seq: 600, v: 1040 });
  await produce(f, [
    ...before.map((e) => kvMessage(f.topics.kv!, e)),
    ...kvTruncateMessages(f.topics.kv!, truncateSeq, 2),
    ...afterEvents.map((e) => kvMessage(f.topics.kv!, e)),
  ]);
  const expected = new Map<number, { v: number; seq: number } | null>(keys.map((k) => [k, null]));
  for (const e of afterEvents) expected.set(e.k, { v: e.v, seq: e.seq });

  const check = async (when: string): Promise<void> => {
    const s = await readKvState(f, keys);
    for (const k of keys) {
      assert.deepEqual(s.mongo.get(k), expected.get(k), `MongoDB key ${k} ${when}`);
      assert.deepEqual(s.redis.get(k), expected.get(k), `Redis key ${k} ${when}`);
    }
    await withSinks(f, async (mongo, redis) => {
      assert.equal(
        await mongo.db(f.mongoDb).collection('kv').countDocuments(),
        6,
        `MongoDB holds 6 documents ${when}`,
      );
      assert.equal((await redis.keys(`${f.redisPrefix}:kv:*`)).length, 6, `Redis holds 6 entries ${when}`);
    });
  };

  // Small batches: the truncate's copies and the rows around them land in different batches.
  const first = await drain(f, 25);
  assert.ok(first.progress.length >= 2, `the events ran in several batches (${first.progress.length})`);
  assert.equal(
    first.progress.reduce((a, p) => a + Number(p.tables['shop.kv']?.dlq ?? 0), 0),
    0,
    'the truncate events are not dead letters',
  );
  await check('after the truncate');

  // A relay crash replays everything from before the truncate (and the truncate itself): checked
  // after every batch while the replay runs.
  await produce(f, [
    ...before.map((e) => kvMessage(f.topics.kv!, e)),
    ...kvTruncateMessages(f.topics.kv!, truncateSeq, 2),
    ...before.slice(0, 20).map((e) => kvMessage(f.topics.kv!, e)),
  ]);
  const file = writeJobFile(
    { ...f.job, kafka: { ...f.job.kafka, maxOffsetsPerTrigger: 20 } },
    `${f.stateDir}/replay.json`,
  );
  const run = runJob(f, { jobFile: file });
  try {
    // The job continues from the first run's checkpoint: only the replayed messages are new.
    const total = before.length + 2 + 20;
    let checked = 0;
    const deadline = Date.now() + 180_000;
    while (run.processed() < total) {
      if (Date.now() > deadline)
        assert.fail(
          `the replay did not finish within 180 s (${run.processed()} of ${total} rows):\n${run.logs.slice(-30).join('\n')}`,
        );
      if (run.progress.length > checked) {
        checked = run.progress.length;
        await check(`after replay batch ${checked}`);
      }
      if (run.child.exitCode !== null) assert.fail(`the job exited:\n${run.logs.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await check('after the whole replay');
    assert.ok(checked >= 2, `the replay ran in several batches (${checked})`);
  } finally {
    await run.stop();
  }
});
