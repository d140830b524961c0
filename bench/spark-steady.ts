// Batch durations of the Spark job at a steady offered load on the local stack: a producer sends
// RATE kv events/s (updates over KEYS keys) for SECONDS while the job runs with its normal trigger;
// reports batch duration p50/p99 after warm-up, whether the job kept up, and per sink the commit →
// sink latency p50/p99 from the job's own histograms (each event carries its send time as
// source.ts_ms, so the figure is produce → acknowledged by the sink, bucket upper bounds).
//   npx tsx bench/spark-steady.ts [rate=500] [seconds=60] [keys=2000] [triggerMs=1000]
//   SINKS=redis | SINKS=mongodb measures one sink only.
import { setTimeout as sleep } from 'node:timers/promises';
import { Producer, compatibilityPartitioner, stringSerializers } from '@platformatic/kafka';
import { dropFixture, kvMessage, kvTable, runJob, sparkFixture } from '../test/integration/spark-support.ts';
import { latencySummary } from '../src/observe/status.ts';
import { writeJobFile } from '../src/spark/launcher.ts';

const [rate = 500, seconds = 60, keys = 2000, triggerMs = 1000] = process.argv.slice(2).map(Number);
const f = await sparkFixture('bench_steady', {
  tables: [kvTable()],
  inputs: {
    triggerIntervalMs: triggerMs,
    ...(process.env.SINKS === 'redis' ? { sinks: { mongodb: null, redis: {} } } : {}),
  },
});
if (process.env.SINKS === 'mongodb') {
  f.job.sinks.redis = null;
  for (const t of f.job.tables) t.redis = null;
}
// REALTIME=1: real-time mode, triggerMs is then the checkpoint interval (at least 5000).
if (process.env.REALTIME === '1') f.job.realTime = true;
const run = runJob(f, {
  jobFile: writeJobFile(f.job, `${f.stateDir}/steady.json`),
});
// Warm up on a first small batch so JIT and code generation are out of the measurement.
const producer = new Producer({
  clientId: 'bench',
  bootstrapBrokers: f.stack.kafkaBrokers,
  serializers: stringSerializers,
  partitioner: compatibilityPartitioner,
});
let seq = 1000;
const send = async (n: number): Promise<void> => {
  const batch = [];
  for (let i = 0; i < n; i++) {
    seq++;
    const k = 1 + (seq % keys);
    const m = kvMessage(f.topics.kv!, { k, op: seq - 1000 <= keys ? 'c' : 'u', seq, v: seq });
    // The send time stands in for the commit time: the job measures latency from source.ts_ms.
    const value = JSON.parse(m.value) as { source: { ts_ms: number } };
    value.source.ts_ms = Date.now();
    batch.push({ ...m, value: JSON.stringify(value) });
  }
  await producer.send({ messages: batch });
};
await send(keys);
await run.waitForRows(keys, 180_000);
const warm = run.progress.length;
const started = Date.now();
let sent = 0;
for (let tick = 0; tick < seconds * 10; tick++) {
  const due = started + tick * 100;
  if (due > Date.now()) await sleep(due - Date.now());
  await send(rate / 10);
  sent += rate / 10;
}
const producedMs = Date.now() - started;
await run.waitForRows(keys + sent, 300_000);
const drainedMs = Date.now() - started;
await producer.close();
await run.stop();
await dropFixture(f);
const measured = run.progress.slice(warm);
const d = measured.map((p) => p.durationMs).sort((a, b) => a - b);
const pct = (q: number): number => d[Math.min(d.length - 1, Math.floor(q * d.length))] ?? 0;
console.log(
  JSON.stringify(
    {
      offeredEventsPerSecond: Math.round((sent / producedMs) * 1000),
      seconds,
      keys,
      triggerMs,
      sinks: process.env.SINKS ?? 'mongodb+redis',
      latencyMs: Object.fromEntries(
        (['mongodb', 'redis'] as const).map((sink) => {
          const l = latencySummary(
            measured.map((p) => (p.tables['shop.kv'] ?? {}) as Record<string, unknown>),
            sink,
          );
          return [sink, { samples: l.samples, p50: l.p50, p99: l.p99 }];
        }),
      ),
      batches: measured.length,
      eventsPerBatchP50: measured.map((p) => p.numInputRows).sort((a, b) => a - b)[
        Math.floor(measured.length / 2)
      ],
      batchMsP50: pct(0.5),
      batchMsP99: pct(0.99),
      caughtUpSecondsAfterLastSend: (drainedMs - producedMs) / 1000,
    },
    null,
    2,
  ),
);
process.exit(0);
