// Real-time mode (decision 0044): long-running tasks write each change as it arrives, Spark commits
// offsets only once per checkpoint interval, and replays after a crash are absorbed by the version
// guards. The same invariants as the micro-batch tests (spark-replay, spark-crash), traced through
// the real-time writer: nothing lost, nothing resurrected, no sink ever moves backwards.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { endOffsets, sinkCommittedOffsets, topicLag } from '../../src/observe/lag.ts';
import { writeJobFile } from '../../src/spark/launcher.ts';
import {
  converged,
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

let run: JobRun | undefined;
/** Every job a test started: a test that fails midway must not leave its driver running. */
const started: JobRun[] = [];

after(async () => {
  for (const r of started) await r.stop();
  await dropCreatedFixtures();
});

function start(f: SparkFixture, jobFile: string): JobRun {
  const r = runJob(f, { jobFile });
  started.push(r);
  return r;
}

/** A real-time job description for the fixture, checkpointing every `checkpointMs`. */
function realTimeJob(f: SparkFixture, checkpointMs: number, file: string): string {
  return writeJobFile({ ...f.job, realTime: true, triggerIntervalMs: checkpointMs }, `${f.stateDir}/${file}`);
}

/** Batches the sink's query has committed to its checkpoint (Spark's `commits/` log). */
function checkpointCommits(f: SparkFixture, sink: 'mongodb' | 'redis', topic: string): string[] {
  const dir = join(f.job.checkpointLocation, 'sinks', sink, topic, 'commits');
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^\d+$/.test(n)) : [];
}

/** A sink's progress counters for shop.kv whose names start with `prefix`, summed over its lines. */
function summed(r: JobRun, sink: string, prefix: string): number {
  return r.progress
    .filter((p) => p.sink === sink)
    .reduce(
      (a, p) =>
        a +
        Object.entries(p.tables['shop.kv'] ?? {})
          .filter(([k]) => k.startsWith(prefix))
          .reduce((b, [, v]) => b + Number(v), 0),
      0,
    );
}

const bothCheckpointed = (f: SparkFixture): boolean =>
  (['mongodb', 'redis'] as const).every((sink) => checkpointCommits(f, sink, f.topics.kv!).length > 0);

test('in real-time mode changes reach both sinks before the first checkpoint, and the lag, counts and latency shown are current, not as of the last checkpoint; snapshot reads add no commit latency; a stop logs no failed batch', async () => {
  const f = await sparkFixture('spark_rtm_fresh', { tables: [kvTable()] });
  // An initial load's reads, then live updates of the same rows. The reads carry the time the
  // snapshot read them (here: long ago), which is no commit: they must not show as latency.
  const events: KvEvent[] = Array.from({ length: 40 }, (_, i) => ({
    k: 1 + (i % 20),
    op: i < 20 ? 'r' : 'u',
    seq: 100 + i,
    v: i,
  }));
  // A checkpoint interval far longer than the test: every write seen here was made between checkpoints.
  run = start(f, realTimeJob(f, 600_000, 'rtm-fresh.json'));
  const keys = Array.from({ length: 20 }, (_, i) => i + 1);
  const reads = events.filter((e) => e.op === 'r');
  await produce(
    f,
    reads.map((e) => kvMessage(f.topics.kv!, e)),
  );
  await converged(f, run, keys, expectedKv(reads), 180_000);
  await produce(
    f,
    events.filter((e) => e.op !== 'r').map((e) => kvMessage(f.topics.kv!, e)),
  );
  await converged(f, run, keys, expectedKv(events), 180_000);
  for (const sink of ['redis', 'mongodb'] as const) {
    assert.deepEqual(
      checkpointCommits(f, sink, f.topics.kv!),
      [],
      `${sink}: no batch had ended (no checkpoint) when the sinks held every change`,
    );
  }

  const ends = await endOffsets({ brokers: f.stack.kafkaBrokers } as never, [f.topics.kv!]);
  for (const sink of ['redis', 'mongodb'] as const) {
    let lag = topicLag(
      f.topics.kv!,
      ends,
      sinkCommittedOffsets(f.job.checkpointLocation, sink, [f.topics.kv!]),
    );
    // The applied position is recorded at most every 200 ms after a write.
    const by = Date.now() + 10_000;
    while (lag.lag !== 0n && Date.now() < by) {
      await sleep(200);
      lag = topicLag(
        f.topics.kv!,
        ends,
        sinkCommittedOffsets(f.job.checkpointLocation, sink, [f.topics.kv!]),
      );
    }
    assert.equal(
      lag.lag,
      0n,
      `${sink}: status shows no lag once every change is applied (${lag.processedOffset} of ${lag.endOffset})`,
    );
  }
  // The tasks report their counters and latency histograms every second (decision 0074).
  const mine = (sink: string) => run!.progress.filter((p) => p.sink === sink);
  const counted = (sink: string, name: string) =>
    mine(sink).reduce((a, p) => a + Number(p.tables['shop.kv']?.[name] ?? 0), 0);
  const latencySamples = (sink: string) => summed(run!, sink, `latency.${sink}.`);
  const byCounts = Date.now() + 10_000;
  while (
    (counted('redis', 'events') < events.length || counted('mongodb', 'events') < events.length) &&
    Date.now() < byCounts
  ) {
    await sleep(200);
  }
  for (const sink of ['redis', 'mongodb'] as const) {
    assert.equal(
      counted(sink, 'events'),
      events.length,
      `${sink}: every event read is counted before any checkpoint`,
    );
    assert.equal(
      mine(sink).reduce((a, p) => a + p.numInputRows, 0),
      events.length,
      `${sink}: the progress lines' input rows add up to the events read`,
    );
    assert.ok(latencySamples(sink) > 0, `${sink}: commit → sink latency is measured before any checkpoint`);
    assert.ok(
      latencySamples(sink) <= events.length - reads.length,
      `${sink}: only the ${events.length - reads.length} live changes count as commit → sink latency, got ${latencySamples(sink)} samples`,
    );
    assert.deepEqual(checkpointCommits(f, sink, f.topics.kv!), [], `${sink}: still no checkpoint`);
  }
  // A stop (SIGTERM, as `syncline run` stops it) is no failure: nothing in the log may say so.
  const stderr = run.child.stderr!;
  const drained = stderr.closed ? Promise.resolve() : new Promise((r) => stderr.once('close', r));
  const stoppedFrom = run.logs.length;
  await run.stop();
  await drained;
  assert.deepEqual(
    run.logs.filter((l) => l.includes('batch failed')),
    [],
    'a job stopped by SIGTERM reports no failed batch and no restart',
  );
  // Spark's log lines read "yy/MM/dd HH:mm:ss LEVEL logger: message".
  assert.deepEqual(
    run.logs.slice(stoppedFrom).filter((l) => / ERROR /.test(l)),
    [],
    `a job stopped by SIGTERM logs no ERROR (its queries stop before the Spark context); log after SIGTERM:\n${run.logs.slice(stoppedFrom).join('\n')}`,
  );
  assert.ok(
    run.logs.some((l) => /stopping: \d+ of \d+ queries stopped/.test(l)),
    `the stop says its queries were stopped; log after SIGTERM:\n${run.logs.slice(stoppedFrom).join('\n')}`,
  );
  run = undefined;
});

test('in real-time mode replayed and interleaved duplicates never move a sink backwards, and are counted as stale', async () => {
  const f = await sparkFixture('spark_rtm_replay', { tables: [kvTable({ composite: true })] });
  const keys = Array.from({ length: 25 }, (_, i) => i + 1);
  const events: KvEvent[] = [];
  const alive = new Map<number, boolean>();
  for (let i = 0; i < 200; i++) {
    const k = 1 + ((i * 7) % keys.length);
    const op: KvEvent['op'] = !alive.get(k) ? 'c' : i % 4 === 0 ? 'd' : 'u';
    alive.set(k, op !== 'd');
    events.push({ k, op, seq: 100 + i * 2, v: i });
  }
  run = start(f, realTimeJob(f, 5000, 'rtm-replay.json'));
  let last = new Map<number, number>();
  let lastRedis = new Map<number, number>();
  const published: KvEvent[] = [];
  // Each chunk, then the previous chunk again (a relay replay), then everything at the end.
  const chunks: KvEvent[][] = [];
  for (let i = 0; i < events.length; i += 40) chunks.push(events.slice(i, i + 40));
  const publishes = chunks.flatMap((c, i) => (i === 0 ? [c] : [c, chunks[i - 1]!]));
  publishes.push(events);
  for (const p of publishes) {
    await produce(
      f,
      p.map((e) => kvMessage(f.topics.kv!, e, true)),
    );
    published.push(...p);
    const expected = expectedKv(published);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const s = await readKvState(f, keys);
      for (const k of keys) {
        assert.ok(s.mongoVersion.get(k)! >= (last.get(k) ?? 0), `MongoDB key ${k} went backwards`);
        assert.ok(s.redisVersion.get(k)! >= (lastRedis.get(k) ?? 0), `Redis key ${k} went backwards`);
      }
      last = s.mongoVersion;
      lastRedis = s.redisVersion;
      const done = keys.every(
        (k) =>
          JSON.stringify(s.mongo.get(k)) === JSON.stringify(expected.get(k) ?? null) &&
          JSON.stringify(s.redis.get(k)) === JSON.stringify(expected.get(k) ?? null),
      );
      if (done) break;
      assert.ok(
        Date.now() < deadline,
        `not converged after a publish; log:\n${run.logs.slice(-20).join('\n')}`,
      );
      await sleep(100);
    }
  }
  // Counters reach the driver when a batch ends: wait for the checkpoint that covers the replays.
  const by = Date.now() + 60_000;
  const stale = (): number =>
    run!.progress.reduce(
      (a, p) =>
        a +
        Number(p.tables['shop.kv']?.['mongo.stale'] ?? 0) +
        Number(p.tables['shop.kv']?.['redis.stale'] ?? 0),
      0,
    );
  while (stale() === 0 && Date.now() < by) await sleep(500);
  assert.ok(stale() > 0, 'the replayed events were refused as stale by the guarded writes');
  // The creates among them were decided on tombstones read while their rows still arrived
  // (decision 0111): the sinks above never went backwards and deleted keys stayed deleted on it.
  assert.ok(summed(run, 'mongodb', 'mongo.readAhead') > 0, 'tombstones were read ahead of the flushes');
  await run.stop();
  run = undefined;
});

test('changes both sinks already hold, read again by a job without a checkpoint, count as stale and add no commit → sink latency', async () => {
  const f = await sparkFixture('spark_rtm_relatency', { tables: [kvTable()] });
  const keys = Array.from({ length: 30 }, (_, i) => i + 1);
  const events: KvEvent[] = keys.flatMap((k) => [
    { k, op: 'c' as const, seq: 100 + k, v: k },
    { k, op: 'u' as const, seq: 200 + k, v: 1000 + k },
  ]);
  await produce(
    f,
    events.map((e) => kvMessage(f.topics.kv!, e)),
  );
  run = start(f, realTimeJob(f, 600_000, 'rtm-first.json'));
  await converged(f, run, keys, expectedKv(events), 180_000);
  await run.stop();
  // The same topic from the beginning, as after a lost checkpoint: nothing becomes visible now.
  const again = writeJobFile(
    {
      ...f.job,
      checkpointLocation: `${f.job.checkpointLocation}-again`,
      realTime: true,
      triggerIntervalMs: 600_000,
    },
    `${f.stateDir}/rtm-again.json`,
  );
  run = start(f, again);
  const counted = (sink: string, prefix: string) => summed(run!, sink, prefix);
  const by = Date.now() + 120_000;
  while (
    (counted('redis', 'redis.stale') < keys.length || counted('mongodb', 'mongo.stale') < keys.length) &&
    Date.now() < by
  )
    await sleep(250);
  for (const [sink, stale] of [
    ['redis', 'redis.stale'],
    ['mongodb', 'mongo.stale'],
  ] as const) {
    assert.ok(
      counted(sink, stale) >= keys.length,
      `${sink}: the replayed changes are refused as stale (${counted(sink, stale)}); log:\n${run.logs.slice(-20).join('\n')}`,
    );
    assert.equal(
      counted(sink, `latency.${sink}.`),
      0,
      `${sink}: a change the sink already held adds no commit → sink latency`,
    );
  }
  await run.stop();
  run = undefined;
});

test('the real-time driver killed with SIGKILL between checkpoints three times resumes from its last checkpoint and converges', async () => {
  const f = await sparkFixture('spark_rtm_crash', { tables: [kvTable()] });
  const keys = Array.from({ length: 60 }, (_, i) => i + 1);
  const events: KvEvent[] = [];
  const alive = new Set<number>();
  for (let i = 0; i < 1200; i++) {
    const k = 1 + ((i * 7919) % keys.length);
    const op: KvEvent['op'] = !alive.has(k) ? 'c' : i % 5 === 0 ? 'd' : 'u';
    if (op === 'd') alive.delete(k);
    else alive.add(k);
    events.push({ k, op, seq: 1000 + i, v: i });
  }
  const job = realTimeJob(f, 5000, 'rtm-crash.json');
  let produced = 0;
  for (let kill = 0; kill < 3; kill++) {
    run = start(f, job);
    // A slice of the events while this driver runs; it is killed as soon as they are applied
    // (the first run) or once it has also checkpointed (the others).
    const slice = events.slice(produced, produced + 300);
    await produce(
      f,
      slice.map((e) => kvMessage(f.topics.kv!, e)),
    );
    produced += slice.length;
    await converged(f, run, keys, expectedKv(events.slice(0, produced)), 180_000);
    if (kill > 0) {
      // Each sink's query checkpoints on its own, and a progress line may be a running batch's
      // current figures: wait for both sinks' commit files, or a query starts over.
      const by = Date.now() + 60_000;
      while (!bothCheckpointed(f) && Date.now() < by) await sleep(200);
    }
    run.child.kill('SIGKILL');
    await run.exited;
    run = undefined;
  }
  run = start(f, job);
  await produce(
    f,
    events.slice(produced).map((e) => kvMessage(f.topics.kv!, e)),
  );
  await converged(f, run, keys, expectedKv(events), 180_000);
  // Wait for the counters to cover the events this run had to apply: a run that resumed from
  // its checkpoint read no more than the events after it.
  const by = Date.now() + 60_000;
  while (run.processed() < events.length - produced && Date.now() < by) await sleep(200);
  const read = run.processed();
  assert.ok(
    read < events.length && read >= events.length - produced,
    `the last run resumed from a checkpoint (${read} of ${events.length} events read; batches: ${run.progress
      .map((p) => `${p.sink} #${p.batchId} ${p.numInputRows} rows to ${p.endOffset}`)
      .join(', ')})`,
  );
  await run.stop();
  run = undefined;
});
