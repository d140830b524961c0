// Throughput of the Spark job into both sinks on the local stack: produce N kv events (K keys),
// run the job with Trigger.AvailableNow and a fixed maxOffsetsPerTrigger, report events/s and
// batch duration percentiles from its progress lines.
//   npx tsx bench/spark-throughput.ts [events=50000] [keys=5000] [maxOffsetsPerTrigger=10000]
//   SINKS=redis … measures without MongoDB, SINKS=mongodb without Redis; SPARK_CONF='{"spark.x":"y"}' adds Spark settings;
//   TABLES=4 spreads the events over four tables (topics), as a schema with several tables does.
//   REALTIME=1 runs the job in real-time mode instead (spark.mode real-time, the default of `run`):
//   the rate is the events over the time from a sink's first applied event to its last.
import {
  dropFixture,
  kvMessage,
  kvTable,
  produce,
  runJob,
  sparkFixture,
  type KvEvent,
} from '../test/integration/spark-support.ts';
import { writeJobFile } from '../src/spark/launcher.ts';
import { endOffsets, sinkCommittedOffsets, topicLag, type SinkName } from '../src/observe/lag.ts';
import { cpus } from 'node:os';
import { cpuOf, redisCpu } from './cpu.ts';

const [events = 50_000, keys = 5_000, perTrigger = 10_000] = process.argv.slice(2).map(Number);
const conf = process.env.SPARK_CONF
  ? (JSON.parse(process.env.SPARK_CONF) as Record<string, string>)
  : undefined;
const tableCount = Math.max(1, Number(process.env.TABLES ?? 1));
const tables = Array.from({ length: tableCount }, (_, i) => ({
  ...kvTable(),
  name: i === 0 ? 'kv' : `kv${i + 1}`,
}));
const f = await sparkFixture('bench_spark', {
  tables,
  inputs: {
    triggerIntervalMs: 100,
    ...(conf ? { conf } : {}),
    ...(process.env.SINKS === 'redis' ? { sinks: { mongodb: null, redis: {} } } : {}),
  },
});
const list: KvEvent[] = [];
for (let i = 0; i < events; i++)
  list.push({ k: 1 + (i % keys), op: i < keys ? 'c' : 'u', seq: 1000 + i, v: i });
await produce(
  f,
  list.map((e, i) => kvMessage(f.topics[tables[i % tableCount]!.name]!, e)),
);
if (process.env.SINKS === 'mongodb') {
  f.job.sinks.redis = null;
  for (const t of f.job.tables) t.redis = null;
}
if (process.env.REALTIME === '1') await realTime();
const job = writeJobFile(
  { ...f.job, availableNow: true, kafka: { ...f.job.kafka, maxOffsetsPerTrigger: perTrigger } },
  `${f.stateDir}/bench.json`,
);
const started = Date.now();
const run = runJob(f, { jobFile: job });
const code = await run.exited;
const wall = (Date.now() - started) / 1000;
if (code !== 0) throw new Error(`job failed (${code}):\n${run.logs.slice(-20).join('\n')}`);
// One query per sink (decision 0040): each sink's batches are measured on their own, and the
// figure is the slower sink's. The first batch of each pays for JIT and code generation.
const perSink: Record<
  string,
  { events: number; busySeconds: number; drainSeconds: number; batchMs: number[] }
> = {};
for (const sink of new Set(run.progress.map((p) => p.sink ?? 'all'))) {
  const mine = run.progress.filter((p) => (p.sink ?? 'all') === sink);
  const steady = mine.slice(1);
  const start = Date.parse(steady[0]?.timestamp ?? mine[0]!.timestamp);
  const end = Math.max(...steady.map((p) => Date.parse(p.timestamp) + p.durationMs));
  perSink[sink] = {
    events: steady.reduce((a, p) => a + p.numInputRows, 0),
    busySeconds: steady.reduce((a, p) => a + p.durationMs, 0) / 1000,
    drainSeconds: (end - start) / 1000,
    batchMs: steady.map((p) => p.durationMs).sort((a, b) => a - b),
  };
}
const slowest = Object.values(perSink).sort(
  (a, b) => a.events / a.drainSeconds - b.events / b.drainSeconds,
)[0]!;
const durations = slowest.batchMs;
const pct = (q: number): number =>
  durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0;
const rows = slowest.events;
const busy = slowest.busySeconds;
console.log(
  JSON.stringify(
    {
      events,
      keys,
      tables: tableCount,
      maxOffsetsPerTrigger: perTrigger,
      batches: run.progress.length,
      firstBatchMs: run.progress[0]?.durationMs,
      steadyEventsPerSecond: Math.round(rows / busy),
      // Events over the time from the first steady batch's start to the last one's end
      // (includes the gaps between batches, unlike steadyEventsPerSecond).
      drainEventsPerSecond: Math.round(rows / slowest.drainSeconds),
      perSink: Object.fromEntries(
        Object.entries(perSink).map(([k, v]) => [
          k,
          {
            events: v.events,
            eventsPerSecond: Math.round(v.events / v.drainSeconds),
            batches: v.batchMs.length,
          },
        ]),
      ),
      batchMsP50: pct(0.5),
      batchMsP99: pct(0.99),
      wallSecondsIncludingJvmStart: wall,
    },
    null,
    2,
  ),
);
await dropFixture(f);
process.exit(0);

/** Real-time mode: watch each sink's applied position until every event is applied, then exit. */
async function realTime(): Promise<never> {
  const topics = Object.values(f.topics);
  const ends = await endOffsets({ brokers: f.stack.kafkaBrokers } as never, topics);
  const sinks = (['mongodb', 'redis'] as SinkName[]).filter((s) => f.job.sinks[s] !== null);
  const run = runJob(f, {
    jobFile: writeJobFile({ ...f.job, realTime: true, triggerIntervalMs: 30_000 }, `${f.stateDir}/rtm.json`),
  });
  const first = new Map<SinkName, number>();
  const done = new Map<SinkName, number>();
  // CPU from the first applied event to the last one's, per 1,000 events: steadier than the rate
  // on a shared machine (the job's JVM; Redis when it is the only sink).
  const redisOnly = sinks.length === 1 && sinks[0] === 'redis';
  const cpu = async () => ({
    job: cpuOf(run.child.pid),
    redis: redisOnly ? await redisCpu(f.stack.redisUrl) : 0,
  });
  let cpuAtFirst: { job: number; redis: number } | undefined;
  const deadline = Date.now() + 1_800_000;
  while (done.size < sinks.length) {
    if (Date.now() > deadline || run.child.exitCode !== null)
      throw new Error(`the real-time job did not apply every event:\n${run.logs.slice(-20).join('\n')}`);
    for (const sink of sinks) {
      if (done.has(sink)) continue;
      const at = sinkCommittedOffsets(f.job.checkpointLocation, sink, topics);
      const lags = topics.map((t) => topicLag(t, ends, at));
      const applied = lags.reduce((a, l) => a + l.processedOffset, 0n);
      if (applied > 0n && !first.has(sink)) {
        first.set(sink, Date.now());
        cpuAtFirst ??= await cpu();
      }
      if (lags.every((l) => l.lag === 0n)) done.set(sink, Date.now());
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const cpuAtEnd = await cpu();
  await run.stop();
  const perThousand = (s: number): number => Math.round((s * 1e6) / events);
  const jobMs = perThousand(cpuAtEnd.job - (cpuAtFirst?.job ?? 0));
  const redisMs = perThousand(cpuAtEnd.redis - (cpuAtFirst?.redis ?? 0));
  const perSink = Object.fromEntries(
    sinks.map((s) => [s, Math.round(events / ((done.get(s)! - first.get(s)!) / 1000))]),
  );
  console.log(
    JSON.stringify(
      {
        events,
        keys,
        tables: tableCount,
        mode: 'real-time',
        drainEventsPerSecond: Math.min(...Object.values(perSink)),
        perSink,
        cpuMsPerThousandEvents: { job: jobMs, ...(redisOnly ? { redis: redisMs } : {}) },
        // The rate this machine's cores allow at that CPU per event, were they all the job's and
        // Redis's: what a faster pipeline would need is less CPU per event, not more parallelism.
        ...(redisOnly && jobMs + redisMs > 0
          ? { cpuBoundEventsPerSecond: Math.round((cpus().length * 1e6) / (jobMs + redisMs)) }
          : {}),
      },
      null,
      2,
    ),
  );
  await dropFixture(f);
  process.exit(0);
}
