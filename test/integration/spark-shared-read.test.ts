// Decision 0108: a table's first backlog is read once for both sinks, and once caught up the
// table goes on with its two sink queries, which start where both sinks had applied: every change
// before and after the hand-over reaches both sinks, and nothing is read again from the start.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  type KvEvent,
  type SparkFixture,
} from './spark-support.ts';
import { closedPort } from '../support/ports.ts';

after(dropCreatedFixtures);

/** Puts `events` into the fixture's topic and returns a real-time job file for it (10 min batches). */
async function realTimeJobAfter(f: SparkFixture, events: KvEvent[]): Promise<string> {
  await produce(
    f,
    events.map((e) => kvMessage(f.topics.kv!, e)),
  );
  return writeJobFile(
    { ...f.job, realTime: true, triggerIntervalMs: 600_000 },
    `${f.stateDir}/realtime.json`,
  );
}

test('an initial load is read once for both sinks, handed over without a gap to the sink queries once caught up, and later changes reach both sinks from there', async () => {
  const f = await sparkFixture('spark_shared_read', { tables: [kvTable()] });
  const topic = f.topics.kv!;
  // More than the 10,000 events that count as a backlog: snapshot reads of 3,000 keys, then updates.
  const load: KvEvent[] = Array.from({ length: 12_000 }, (_, i) => ({
    k: 1 + (i % 3000),
    op: i < 3000 ? 'r' : 'u',
    seq: 1000 + i,
    v: i,
  }));
  const jobFile = await realTimeJobAfter(f, load);
  const keys = Array.from({ length: 3000 }, (_, i) => i + 1);
  const run = runJob(f, { jobFile });
  try {
    await converged(f, run, keys, expectedKv(load), 180_000);
    const handedBy = Date.now() + 60_000;
    while (!run.logs.some((l) => l.includes('hands over')) && Date.now() < handedBy)
      await new Promise((res) => setTimeout(res, 250));
    const handed = run.logs.find((l) => l.includes('hands over'));
    assert.match(
      handed ?? '',
      /both:shop\.kv hands over to its two sink queries: it caught up/,
      `the shared read hands over once caught up; log:\n${run.logs.slice(-20).join('\n')}`,
    );
    const shared = join(f.job.checkpointLocation, 'shared', topic);
    assert.ok(existsSync(join(shared, 'handed-over')), 'the hand-over is recorded in the shared checkpoint');
    assert.match(readFileSync(join(shared, 'handed-over'), 'utf8'), /caught up/);
    // Both sink queries start where the shared read left off, never from the beginning.
    for (const sink of ['redis', 'mongodb']) {
      const startedBy = Date.now() + 60_000;
      const line = () =>
        run.logs.find((l) => l.includes(`${sink}:shop.kv starts from where the shared read`));
      while (!line() && Date.now() < startedBy) await new Promise((res) => setTimeout(res, 250));
      const at = /at (\{.*\})/.exec(line() ?? '')?.[1];
      assert.ok(at, `${sink}: its query says where it starts; log:\n${run.logs.slice(-20).join('\n')}`);
      const offsets = Object.values(JSON.parse(at) as Record<string, number>);
      assert.ok(
        offsets.reduce((a, b) => a + Math.max(0, b), 0) > 0,
        `${sink}: starts after what the shared read applied, not at the beginning (${at})`,
      );
    }
    // No gap: the shared read stops only after both sink queries have started.
    const stoppedBy = Date.now() + 150_000;
    const stopped = () => run.logs.findIndex((l) => /both:shop\.kv stopped/.test(l));
    while (stopped() < 0 && Date.now() < stoppedBy) await new Promise((res) => setTimeout(res, 250));
    assert.match(
      run.logs[stopped()] ?? '',
      /stopped once its sink queries ran/,
      `the shared read stops once its sink queries run; log:\n${run.logs.slice(-20).join('\n')}`,
    );
    for (const sink of ['redis', 'mongodb'])
      assert.ok(
        run.logs.findIndex((l) => l.includes(`${sink}:shop.kv starts from`)) < stopped(),
        `${sink}: its query started before the shared read stopped`,
      );
    // Progress reads as from the two sink queries: every event counted for each sink.
    for (const sink of ['redis', 'mongodb'])
      assert.ok(
        run.progress.filter((p) => p.sink === sink).reduce((a, p) => a + p.numInputRows, 0) >= load.length,
        `${sink}: the shared read's events are counted for it`,
      );

    // After the hand-over, live changes reach both sinks through their own queries.
    const live: KvEvent[] = Array.from({ length: 300 }, (_, i) => ({
      k: 1 + i,
      op: 'u',
      seq: 20_000 + i,
      v: 50_000 + i,
    }));
    await produce(
      f,
      live.map((e) => kvMessage(topic, e)),
    );
    await converged(f, run, keys, expectedKv([...load, ...live]), 180_000);
  } finally {
    await run.stop();
  }
});

test('with MongoDB unreachable from the start the shared read hands over at its first write, and Redis still gets every change', async () => {
  const f = await sparkFixture('spark_shared_down', { tables: [kvTable()] });
  const events: KvEvent[] = Array.from({ length: 300 }, (_, i) => ({
    k: 1 + (i % 50),
    op: i < 50 ? 'c' : 'u',
    seq: 100 + i,
    v: i,
  }));
  const jobFile = await realTimeJobAfter(f, events);
  const keys = Array.from({ length: 50 }, (_, i) => i + 1);
  const expected = expectedKv(events);
  const port = await closedPort();
  const run = runJob(
    {
      ...f,
      env: {
        ...f.env,
        SYNCLINE_MONGODB_URI: `mongodb://127.0.0.1:${port}/?serverSelectionTimeoutMS=1500`,
      },
    },
    { jobFile },
  );
  try {
    const deadline = Date.now() + 120_000;
    let state = await readKvState(f, keys);
    while (keys.some((k) => JSON.stringify(state.redis.get(k)) !== JSON.stringify(expected.get(k)))) {
      assert.ok(
        Date.now() < deadline,
        `Redis did not get every change; log:\n${run.logs.slice(-20).join('\n')}`,
      );
      assert.equal(run.child.exitCode, null, `the job exited:\n${run.logs.slice(-20).join('\n')}`);
      await new Promise((res) => setTimeout(res, 500));
      state = await readKvState(f, keys);
    }
    assert.ok(
      run.logs.some((l) => /both:shop\.kv hands over to its two sink queries: a write failed/.test(l)),
      `the shared read ended when MongoDB failed; log:\n${run.logs.slice(-20).join('\n')}`,
    );
    assert.ok(
      keys.every((k) => state.mongo.get(k) === null),
      'nothing reached MongoDB (it was unreachable)',
    );
  } finally {
    await run.stop();
  }
});
