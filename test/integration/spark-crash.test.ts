// Invariant 7 for the Spark driver: SIGKILL it mid-stream several times (sometimes inside a
// micro-batch, between its MongoDB and Redis writes); each restart resumes from the checkpoint,
// re-runs the unfinished batch with the same offsets, and the sinks end equal to the newest
// state with nothing lost and nothing resurrected.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeJobFile } from '../../src/spark/launcher.ts';
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

let f: SparkFixture;
let run: JobRun | undefined;

before(async () => {
  f = await sparkFixture('spark_crash', { tables: [kvTable()], inputs: { triggerIntervalMs: 100 } });
});

after(async () => {
  await run?.stop();
  await dropCreatedFixtures();
});

function workload(keys: number, count: number): KvEvent[] {
  const events: KvEvent[] = [];
  const alive = new Set<number>();
  for (let i = 0; i < count; i++) {
    const k = 1 + ((i * 7919) % keys);
    const seq = 1000 + i;
    const op: KvEvent['op'] = !alive.has(k) ? 'c' : i % 5 === 0 ? 'd' : 'u';
    if (op === 'd') alive.delete(k);
    else alive.add(k);
    events.push({ k, op, seq, v: seq });
  }
  return events;
}

test('the Spark driver killed with SIGKILL mid-stream three times converges to the newest state in both sinks', async () => {
  const keys = Array.from({ length: 60 }, (_, i) => i + 1);
  const events = workload(keys.length, 1500);
  await produce(
    f,
    events.map((e) => kvMessage(f.topics.kv!, e)),
  );
  // Small batches so each run covers only part of the backlog before it is killed.
  const streaming = writeJobFile(
    { ...f.job, kafka: { ...f.job.kafka, maxOffsetsPerTrigger: 100 } },
    `${f.stateDir}/job-stream.json`,
  );

  let processedBeforeKills = 0;
  for (let kill = 0; kill < 3; kill++) {
    run = runJob(f, { jobFile: streaming });
    const batches = kill === 0 ? 2 : 1;
    const deadline = Date.now() + 120_000;
    while (run.progress.length < batches && Date.now() < deadline && run.child.exitCode === null)
      await sleep(50);
    assert.ok(
      run.progress.length >= batches,
      `run ${kill + 1} made progress before the kill; log:\n${run.logs.slice(-20).join('\n')}`,
    );
    // Land the kill at a different point of the next batch each time.
    await sleep([0, 150, 400][kill]!);
    run.child.kill('SIGKILL');
    await run.exited;
    processedBeforeKills += run.processed();
    run = undefined;
  }
  assert.ok(processedBeforeKills < events.length, 'the kills happened mid-stream, with a backlog left');

  // The last run drains what is left and exits (Trigger.AvailableNow).
  const drain = writeJobFile({ ...f.job, availableNow: true }, `${f.stateDir}/job-drain.json`);
  run = runJob(f, { jobFile: drain });
  const code = await run.exited;
  assert.equal(code, 0, `the draining run exits cleanly; log:\n${run.logs.slice(-20).join('\n')}`);
  // Each sink's query keeps its own checkpoint (decision 0040): each must have resumed.
  const resumed = Math.max(
    ...['mongodb', 'redis'].map((sink) =>
      run!.progress.filter((p) => p.sink === sink).reduce((a, p) => a + p.numInputRows, 0),
    ),
  );
  assert.ok(
    resumed < events.length,
    `the restart resumed from the checkpoint (${resumed} of ${events.length} events re-read)`,
  );

  const state = await readKvState(f, keys);
  const expected = expectedKv(events);
  for (const k of keys) {
    const want = expected.get(k) ?? null;
    assert.deepEqual(state.mongo.get(k), want, `MongoDB key ${k}`);
    assert.deepEqual(state.redis.get(k), want, `Redis key ${k}`);
  }
});
