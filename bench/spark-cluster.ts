// The Spark stage on a Spark standalone cluster with 1 worker, then with 2: the same pre-filled
// topics drained by the job submitted with spark-submit (micro-batch, Trigger.AvailableNow), each
// run into fresh topics, a fresh MongoDB database and fresh Redis keys. Prints one JSON object.
//   npx tsx bench/spark-cluster.ts [events=120000] [tables=4] [partitions=4] [workerCores=4]
// MariaDB is not used; Kafka, MongoDB and Redis are the local stack's (started if not running).
// The cluster runs in its own state dir on ports from SYNCLINE_CLUSTER_BENCH_BASE_PORT (19500).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { localCommand, startJob, writeJobFile, type BatchProgress } from '../src/spark/launcher.ts';
import { resolveStackOptions } from '../src/stack/options.ts';
import { sparkHome } from '../src/stack/services/spark.ts';
import { stackDown, stackUp } from '../src/stack/stack.ts';
import {
  dropFixture,
  kvMessage,
  kvTable,
  produce,
  sparkFixture,
  type KvEvent,
} from '../test/integration/spark-support.ts';

const [events = 120_000, tableCount = 4, partitions = 4, workerCores = 4] = process.argv.slice(2).map(Number);
const base = Number(process.env.SYNCLINE_CLUSTER_BENCH_BASE_PORT ?? 19500);
const clusterDir = mkdtempSync(join(tmpdir(), 'syncline-bench-cluster-'));
const flags = {
  stateDir: clusterDir,
  clusterBasePort: base,
  sparkWorkerCores: workerCores,
  sparkWorkerMemory: '1536m',
  only: 'spark',
};
// The job is submitted with the spark-submit of the SPARK_HOME the stack assembles, as a user
// names theirs.
process.env.SPARK_HOME = sparkHome(clusterDir);
const log = (line: string) => process.stderr.write(`bench/spark-cluster: ${line}\n`);

interface Drain {
  workers: number;
  events: number;
  eventsPerSecond: number;
  perSink: Record<string, number>;
  batches: number;
  wallSecondsIncludingSubmit: number;
}

async function drain(workers: number): Promise<Drain> {
  const opts = resolveStackOptions({ ...flags, sparkWorkers: workers });
  const up = await stackUp(opts, log);
  const tables = Array.from({ length: tableCount }, (_, i) => ({ ...kvTable(), name: `kv${i + 1}` }));
  const f = await sparkFixture(`bench_cluster_${workers}w`, { tables, inputs: { triggerIntervalMs: 100 } });
  const admin = new Admin({ clientId: 'bench-cluster', bootstrapBrokers: f.stack.kafkaBrokers });
  try {
    // The fixture makes 2 partitions a topic; a partition is the unit of parallel work.
    if (partitions > 2)
      await admin.createPartitions({
        topics: Object.values(f.topics).map((name) => ({ name, count: partitions })),
      });
  } finally {
    await admin.close();
  }
  const keys = Math.max(1, Math.round(events / 4));
  const list: KvEvent[] = [];
  for (let i = 0; i < events; i++)
    list.push({ k: 1 + (i % keys), op: i < keys ? 'c' : 'u', seq: 1000 + i, v: i });
  await produce(
    f,
    list.map((e, i) => kvMessage(f.topics[tables[i % tableCount]!.name]!, e)),
  );
  const jobFile = writeJobFile(
    {
      ...f.job,
      master: up.urls.spark!.master,
      availableNow: true,
      shufflePartitions: Math.max(2, workers * workerCores),
      // Several batches per query, so that most of them are steady ones.
      kafka: { ...f.job.kafka, maxOffsetsPerTrigger: Math.max(1000, Math.round(events / tableCount / 6)) },
    },
    join(f.stateDir, 'spark', 'bench.job.json'),
  );
  const progress: BatchProgress[] = [];
  const logs: string[] = [];
  const started = Date.now();
  const run = startJob(localCommand(jobFile), f.env, {
    onProgress: (p) => progress.push(p),
    onLog: (l) => logs.push(l),
  });
  const code = await run.exited;
  const wall = (Date.now() - started) / 1000;
  if (code !== 0) throw new Error(`the job failed (${code}):\n${logs.slice(-30).join('\n')}`);
  // Per sink: events of the steady batches over the time from the first one's start to the last
  // one's end (the job's own clock). Each query's first batch pays for executor start, JIT and
  // code generation and is left out. The figure is the slower sink's, since both must keep up.
  const perSink: Record<string, number> = {};
  for (const sink of new Set(progress.map((p) => p.sink ?? 'all'))) {
    const seen = new Set<string>();
    const steady = progress.filter((p) => {
      if ((p.sink ?? 'all') !== sink) return false;
      const query = Object.keys(p.tables ?? {}).join(',');
      if (seen.has(query)) return true;
      seen.add(query);
      return false;
    });
    const start = Math.min(...steady.map((p) => Date.parse(p.timestamp)));
    const end = Math.max(...steady.map((p) => Date.parse(p.timestamp) + p.durationMs));
    const n = steady.reduce((a, p) => a + p.numInputRows, 0);
    perSink[sink] = Math.round(n / ((end - start) / 1000));
  }
  await dropFixture(f);
  return {
    workers,
    events,
    eventsPerSecond: Math.min(...Object.values(perSink)),
    perSink,
    batches: progress.length,
    wallSecondsIncludingSubmit: wall,
  };
}

try {
  const one = await drain(1);
  log(`1 worker: ${one.eventsPerSecond} events/s`);
  const two = await drain(2);
  log(`2 workers: ${two.eventsPerSecond} events/s`);
  console.log(
    JSON.stringify(
      {
        events,
        tables: tableCount,
        partitionsPerTopic: partitions,
        workerCores,
        mode: 'micro-batch (Trigger.AvailableNow), spark-submit client mode',
        machineCores: (await import('node:os')).cpus().length,
        oneWorker: one,
        twoWorkers: two,
        twoVsOneWorker: Math.round((two.eventsPerSecond / one.eventsPerSecond) * 100) / 100,
      },
      null,
      2,
    ),
  );
} finally {
  await stackDown(resolveStackOptions({ ...flags, sparkWorkers: 2 }), log);
  rmSync(clusterDir, { recursive: true, force: true });
}
process.exit(0);
