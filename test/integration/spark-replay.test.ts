// Invariants 3, 3b and 4 under replay: the relay may publish the same changes twice after a crash,
// so an old update can arrive after the delete that followed it. The same event sequence is
// published a second time, interleaved with the first and split across micro-batches; after every
// publish the sinks must equal the newest state, and no observation may ever go backwards. Every
// MongoDB write method runs it (decisions 0051, 0052): write-first (the default: inserts and
// guarded replaces, reading back only what they refused), read-then-write
// (SYNCLINE_MONGO_WRITES=read-first) and guarded upserts (SYNCLINE_MONGO_WRITES=upsert, which the
// stand-in's capability probe admits).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dropCreatedFixtures,
  expectedKv,
  kvMessage,
  kvTable,
  produce,
  readKvState,
  runJob,
  sparkFixture,
  type JobRun,
  type KvEvent,
  type SparkFixture,
} from './spark-support.ts';

const runs: JobRun[] = [];

after(async () => {
  for (const r of runs) await r.stop();
  await dropCreatedFixtures();
});

async function fixture(name: string): Promise<SparkFixture> {
  return sparkFixture(name, {
    // A composite key: MongoDB _ids are documents, the case the stand-in's upserts once broke (0005).
    tables: [kvTable({ composite: true })],
    // Small batches so one publish spans several micro-batches.
    inputs: { triggerIntervalMs: 200 },
  });
}

/** Per key: insert, updates, delete, update-after-re-insert … with one global, growing seq. */
function history(keys: number, seed: number): KvEvent[] {
  let x = seed;
  const rand = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
  const events: KvEvent[] = [];
  const alive = new Map<number, boolean>();
  let seq = 100;
  for (let i = 0; i < keys * 8; i++) {
    const k = 1 + rand(keys);
    seq += 1 + rand(3);
    const op: KvEvent['op'] = !alive.get(k) ? 'c' : rand(3) === 0 ? 'd' : 'u';
    alive.set(k, op !== 'd');
    events.push({ k, op, seq, v: seq * 10 });
  }
  return events;
}

test('duplicates interleaved across batch boundaries, including updates after deletes, never move a sink backwards and end at the newest state', async () => {
  const f = await fixture('spark_replay');
  const run = await replay(f);
  assert.match(run.logs.join('\n'), /gets creates inserted and updates replaced/, 'write-first by default');
});

test('the same replay with versions read before every write (SYNCLINE_MONGO_WRITES=read-first) ends equally exact', async () => {
  const f = await fixture('spark_replay_read_first');
  f.env = { ...f.env, SYNCLINE_MONGO_WRITES: 'read-first' };
  const run = await replay(f);
  assert.match(run.logs.join('\n'), /gets versions read before each write/, 'read-then-write when asked for');
});

test('the same replay with guarded upserts (SYNCLINE_MONGO_WRITES=upsert, admitted by the probe) ends equally exact', async () => {
  const f = await fixture('spark_replay_upsert');
  f.env = { ...f.env, SYNCLINE_MONGO_WRITES: 'upsert' };
  const run = await replay(f);
  assert.match(
    run.logs.join('\n'),
    /takes guarded upserts \(probe passed\)/,
    'the stand-in passes the upsert probe',
  );
});

async function replay(f: SparkFixture): Promise<JobRun> {
  const keys = Array.from({ length: 25 }, (_, i) => i + 1);
  const events = history(keys.length, 7);
  const chunks: KvEvent[][] = [];
  for (let i = 0; i < events.length; i += 40) chunks.push(events.slice(i, i + 40));
  // Publish order: C1, C2, C1 again, C3, C2 again, … then the whole sequence once more.
  const publishes: KvEvent[][] = [];
  chunks.forEach((c, i) => {
    publishes.push(c);
    if (i > 0) publishes.push(chunks[i - 1]!);
  });
  publishes.push(events);
  assert.ok(
    events.some((e, i) => e.op === 'd' && events.slice(0, i).some((p) => p.k === e.k && p.op === 'u')),
    'the history has updates that a replay delivers after their delete',
  );

  const run = runJob(f, { jobFile: await withMaxOffsets(f, 30) });
  runs.push(run);
  const published: KvEvent[] = [];
  let sent = 0;
  let last: Map<number, number> = new Map();
  let lastRedis: Map<number, number> = new Map();
  let batchesSeen = 0;
  for (const p of publishes) {
    await produce(
      f,
      p.map((e) => kvMessage(f.topics.kv!, e, true)),
    );
    published.push(...p);
    sent += p.length;
    // Watch the sinks while the batches of this publish run: versions only ever grow.
    const watching = (async () => {
      while (run.processed() < sent) {
        const s = await readKvState(f, keys);
        for (const k of keys) {
          assert.ok(
            s.mongoVersion.get(k)! >= (last.get(k) ?? 0),
            `MongoDB key ${k} went back from version ${last.get(k)} to ${s.mongoVersion.get(k)}`,
          );
          assert.ok(
            s.redisVersion.get(k)! >= (lastRedis.get(k) ?? 0),
            `Redis key ${k} went back from version ${lastRedis.get(k)} to ${s.redisVersion.get(k)}`,
          );
        }
        last = s.mongoVersion;
        lastRedis = s.redisVersion;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await run.waitForRows(sent);
    await watching;
    const s = await readKvState(f, keys);
    const expected = expectedKv(published);
    for (const k of keys) {
      const want = expected.get(k) ?? null;
      assert.deepEqual(s.mongo.get(k), want, `MongoDB key ${k} after ${published.length} published events`);
      assert.deepEqual(s.redis.get(k), want, `Redis key ${k} after ${published.length} published events`);
    }
    last = s.mongoVersion;
    lastRedis = s.redisVersion;
    batchesSeen = run.progress.length;
  }
  assert.ok(
    batchesSeen > publishes.length,
    `publishes were split across micro-batches (${batchesSeen} batches for ${publishes.length} publishes)`,
  );
  const stale = run.progress.reduce(
    (a, p) =>
      a +
      Number(p.tables['shop.kv']?.['mongo.stale'] ?? 0) +
      Number(p.tables['shop.kv']?.['mongo.tombstoned'] ?? 0),
    0,
  );
  assert.ok(stale > 0, 'replayed events were recognised as stale by the guarded writes');
  return run;
}

/** A copy of the job description with a small maxOffsetsPerTrigger. */
async function withMaxOffsets(f: SparkFixture, n: number): Promise<string> {
  const { writeJobFile } = await import('../../src/spark/launcher.ts');
  return writeJobFile(
    { ...f.job, kafka: { ...f.job.kafka, maxOffsetsPerTrigger: n } },
    `${f.stateDir}/job-small-batches.json`,
  );
}
