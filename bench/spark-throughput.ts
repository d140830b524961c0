// Throughput of the Spark job into both sinks on the local stack: produce N kv events (K keys),
// run the job with Trigger.AvailableNow and a fixed maxOffsetsPerTrigger, report events/s and
// batch duration percentiles from its progress lines.
//   npx tsx bench/spark-throughput.ts [events=50000] [keys=5000] [maxOffsetsPerTrigger=10000]
//   SINKS=redis … measures without MongoDB; SPARK_CONF='{"spark.x":"y"}' adds Spark settings;
//   TABLES=4 spreads the events over four tables (topics), as a schema with several tables does.
import {
  kvMessage,
  kvTable,
  produce,
  runJob,
  sparkFixture,
  type KvEvent,
} from '../test/integration/spark-support.ts';
import { writeJobFile } from '../src/spark/launcher.ts';

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
const job = writeJobFile(
  { ...f.job, availableNow: true, kafka: { ...f.job.kafka, maxOffsetsPerTrigger: perTrigger } },
  `${f.stateDir}/bench.json`,
);
const started = Date.now();
const run = runJob(f, { jobFile: job });
const code = await run.exited;
const wall = (Date.now() - started) / 1000;
if (code !== 0) throw new Error(`job failed (${code}):\n${run.logs.slice(-20).join('\n')}`);
const steady = run.progress.slice(1); // the first batch pays for JIT and code generation
const durations = steady.map((p) => p.durationMs).sort((a, b) => a - b);
const pct = (q: number): number =>
  durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0;
const rows = steady.reduce((a, p) => a + p.numInputRows, 0);
const busy = steady.reduce((a, p) => a + p.durationMs, 0) / 1000;
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
      batchMsP50: pct(0.5),
      batchMsP99: pct(0.99),
      wallSecondsIncludingJvmStart: wall,
    },
    null,
    2,
  ),
);
process.exit(0);
