// Baseline: Kafka Connect's official MongoDB sink connector against syncline's Spark job, on the
// same topic content and the same MongoDB server, each into its own database.
//   1. drain: a topic pre-filled with EVENTS kv events (creates, updates, 2 % deletes over
//      EVENTS/4 keys); each consumer starts from the beginning; rate = events ÷ (last marker
//      visible − first document visible), so JVM start-up counts for neither. Marker events, one
//      per partition at the end of the topic, tell when a partition is fully applied. The end
//      state of every key is then checked on both sides.
//   2. latency: RATE events/s for SECONDS into a fresh topic (same content for both); ten events
//      per second are probes whose key the bench polls in MongoDB every PROBE_POLL_MS; commit
//      (send) → visible p50/p95/p99 as seen from outside. The job's own histogram is reported
//      next to it. Each sample is late by up to one poll interval: at the former 20 ms that was
//      most of a sample (the sides differ by 1–2 ms), so the default is 5 ms.
// The Connect worker is a standalone worker (org.apache.kafka.connect.cli.ConnectStandalone) on
// the jvm/kafka-connect classpath, JsonConverter without schemas, and a CDC handler for our
// envelope (jvm/kafka-connect SynclineEnvelopeHandler: _id = the key value, `after` as the
// document, replace with upsert on c/r/u, delete on d; the connector's Debezium handler does the
// same writes but with the key document as _id, which the stand-in's index mishandles).
//
//   npx tsx bench/connect-baseline.ts [--events 100000] [--rate 1000] [--seconds 60]
//       [--only drain|latency] [--skip connect|spark] [--mongodb-url URL] [--checkpoint-seconds 300]
//       [--pairs 1] [--drain-pairs N] [--probe-poll-ms 5]
//
// With --pairs N both parts run N times, the side that goes first alternating (the stand-in
// holds more data for the second, and the machine is never the same twice): each pair's figures
// are reported, the drain rates as their median, the latencies over all pairs' probes together.
// --drain-pairs sets the drain's own count (default: --pairs).
//
// Prints progress on stderr and one JSON object on stdout. Reports; asserts nothing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Producer, compatibilityPartitioner, stringSerializers } from '@platformatic/kafka';
import { MongoClient, type Collection, type Document } from 'mongodb';
import { writeJobFile } from '../src/spark/launcher.ts';
import { JVM_DIR, javaBinary } from '../src/stack/jvm.ts';
import {
  dropFixture,
  kvMessage,
  kvTable,
  runJob,
  sparkFixture,
  type KvEvent,
  type SparkFixture,
} from '../test/integration/spark-support.ts';
import { latencySummary } from '../src/observe/status.ts';
import { getStack } from '../test/support/stack.ts';
import { freePort } from './standin-process.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
    only: { type: 'string' },
    // Another MongoDB server for both sides (default: the local stack's stand-in).
    'mongodb-url': { type: 'string' },
    skip: { type: 'string' },
    // The Spark job's mode: real-time (the default of `syncline run`) or micro-batch.
    mode: { type: 'string', default: 'real-time' },
    // Real-time mode: the job's checkpoint interval (the default of `syncline run`: 5 minutes).
    'checkpoint-seconds': { type: 'string', default: '300' },
    // Rounds of both sides, the first side alternating: one pair's figures move with whatever
    // else the machine does; the median rate and the pooled latency samples move less.
    pairs: { type: 'string', default: '1' },
    'drain-pairs': { type: 'string' },
    'probe-poll-ms': { type: 'string', default: '5' },
  },
});
const PAIRS = Math.max(1, Number(args.pairs));
const DRAIN_PAIRS = Math.max(1, Number(args['drain-pairs'] ?? PAIRS));
const REAL_TIME = args.mode === 'real-time';
const EVENTS = Number(args.events);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const PROBE_POLL_MS = Math.max(1, Number(args['probe-poll-ms']));
const PARTITIONS = 2;
const MARKER = 10_000_000;
const log = (line: string) => process.stderr.write(`bench connect: ${line}\n`);

type Side = 'connect' | 'spark';
/** Both sides write a single-column key as the plain value (see SynclineEnvelopeHandler). */
const idOf = (_side: Side, k: number): unknown => k;

function ensureConnectClasspath(): string {
  const cpFile = join(JVM_DIR, 'kafka-connect', 'target', 'classpath.txt');
  if (!existsSync(cpFile)) {
    log('building jvm/kafka-connect (first run downloads Kafka Connect and the MongoDB connector)');
    const r = spawnSync(
      'mvn',
      ['-B', '-q', '-ntp', '-f', join(JVM_DIR, 'pom.xml'), '-pl', 'kafka-connect', '-DskipTests', 'package'],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`Maven build of jvm/kafka-connect failed:\n${r.stdout}${r.stderr}`);
  }
  return `${readFileSync(cpFile, 'utf8').trim()}:${join(JVM_DIR, 'kafka-connect', 'target', 'kafka-connect.jar')}`;
}

interface ConnectWorker {
  proc: ChildProcess;
  stop(): Promise<void>;
}

async function startConnect(opts: {
  name: string;
  topic: string;
  brokers: string;
  mongoUrl: string;
  database: string;
  dir: string;
}): Promise<ConnectWorker> {
  const cp = ensureConnectClasspath();
  const worker = join(opts.dir, `${opts.name}-worker.properties`);
  const connector = join(opts.dir, `${opts.name}-connector.properties`);
  const log4j = join(opts.dir, 'log4j2.properties');
  writeFileSync(
    worker,
    [
      `bootstrap.servers=${opts.brokers}`,
      'key.converter=org.apache.kafka.connect.json.JsonConverter',
      'value.converter=org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable=false',
      'value.converter.schemas.enable=false',
      `offset.storage.file.filename=${join(opts.dir, `${opts.name}.offsets`)}`,
      'offset.flush.interval.ms=1000',
      `listeners=http://127.0.0.1:${await freePort()}`,
      // The connector is on the classpath, not in a plugin.path; no service-loader scan needed.
      'plugin.discovery=only_scan',
      '',
    ].join('\n'),
  );
  writeFileSync(
    connector,
    [
      `name=${opts.name}`,
      'connector.class=com.mongodb.kafka.connect.MongoSinkConnector',
      // One task per partition: more would sit idle.
      `tasks.max=${PARTITIONS}`,
      `topics=${opts.topic}`,
      `connection.uri=${opts.mongoUrl}`,
      `database=${opts.database}`,
      'collection=kv',
      'change.data.capture.handler=dev.syncline.bench.SynclineEnvelopeHandler',
      '',
    ].join('\n'),
  );
  writeFileSync(
    log4j,
    [
      'status = warn',
      'appender.out.type = Console',
      'appender.out.name = out',
      'appender.out.target = SYSTEM_ERR',
      'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = warn',
      'rootLogger.appenderRef.out.ref = out',
      '',
    ].join('\n'),
  );
  const proc = spawn(
    javaBinary(),
    [
      '-Xms256m',
      '-Xmx768m',
      `-Dlog4j2.configurationFile=${log4j}`,
      '-cp',
      cp,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      worker,
      connector,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-8000);
    if (process.env.SYNCLINE_BENCH_LOG) process.stderr.write(`[connect] ${c.toString()}`);
  });
  proc.once('exit', (code, signal) => {
    // 143: the worker's own exit status after the SIGTERM that stop() sends.
    if (code !== 0 && code !== 143 && signal !== 'SIGTERM')
      log(`Connect worker exited (${code ?? signal}):\n${err}`);
  });
  return {
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function drainEvents(): { events: KvEvent[]; final: Map<number, number | null> } {
  const keys = Math.max(1, Math.floor(EVENTS / 4));
  const events: KvEvent[] = [];
  const final = new Map<number, number | null>();
  for (let i = 0; i < EVENTS; i++) {
    const k = 1 + (i % keys);
    const created = i < keys || final.get(k) === null;
    const op: KvEvent['op'] = created ? 'c' : i % 50 === 7 ? 'd' : 'u';
    events.push({ k, op, seq: 1000 + i, v: i });
    final.set(k, op === 'd' ? null : i);
  }
  return { events, final };
}

async function send(
  brokers: string[],
  messages: { topic: string; key: string; value: string; partition?: number }[],
) {
  const producer = new Producer({
    clientId: 'bench-connect',
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    partitioner: compatibilityPartitioner,
  });
  try {
    for (let i = 0; i < messages.length; i += 1000)
      await producer.send({ messages: messages.slice(i, i + 1000) });
  } finally {
    await producer.close();
  }
}

const markers = (topic: string, seq: number) =>
  Array.from({ length: PARTITIONS }, (_, p) => ({
    ...kvMessage(topic, { k: MARKER + p, op: 'c', seq: seq + p, v: p }),
    partition: p,
  }));

/**
 * Waits for the first document, then for every partition's marker, then (given the expected
 * final state) until every key holds it: a sink may make a batch's keys visible in any order.
 * Returns the window in ms; the end is when a full read first found the final state.
 */
async function watchDrain(
  coll: Collection<Document>,
  side: Side,
  timeoutMs: number,
  final?: Map<number, number | null>,
): Promise<{ firstMs: number; createdMs: number; doneMs: number; wrongAtMarkers: number }> {
  const t0 = Date.now();
  let first = 0;
  let created = 0;
  const ids = Array.from({ length: PARTITIONS }, (_, p) => idOf(side, MARKER + p));
  // The drain's first quarter creates every key and the rest updates or deletes them: when the
  // last key's document appears, the creates are (nearly) all applied. The two phases cost a
  // sink differently (an insert, and for syncline a tombstone read, against a replace).
  const lastCreated = { _id: idOf(side, Math.max(1, Math.floor(EVENTS / 4))) };
  while (Date.now() - t0 < timeoutMs) {
    if (!first && (await coll.estimatedDocumentCount()) > 0) first = Date.now();
    if (first && !created && final && (await coll.findOne(lastCreated as never, { projection: { _id: 1 } })))
      created = Date.now();
    // A find by _id, not countDocuments: the stand-in runs countDocuments' aggregation as a scan
    // of the whole collection, which took a fifth to a third of its CPU during a drain.
    if (
      first &&
      (await coll.find({ _id: { $in: ids } } as never, { projection: { _id: 1 } }).toArray()).length ===
        PARTITIONS
    ) {
      if (!final) return { firstMs: first, createdMs: created, doneMs: Date.now(), wrongAtMarkers: 0 };
      const wrongAtMarkers = await wrongKeys(coll, side, final);
      let wrong = wrongAtMarkers;
      while (wrong > 0 && Date.now() - t0 < timeoutMs) {
        await sleep(200);
        wrong = await wrongKeys(coll, side, final);
      }
      if (wrong === 0) return { firstMs: first, createdMs: created, doneMs: Date.now(), wrongAtMarkers };
      break;
    }
    await sleep(first ? 100 : 50);
  }
  throw new Error(`${side}: not drained within ${timeoutMs / 1000} s`);
}

/** Keys whose stored v differs from the expected final state (missing, extra, or another value). */
async function wrongKeys(
  coll: Collection<Document>,
  side: Side,
  final: Map<number, number | null>,
): Promise<number> {
  const stored = new Map<number, number>();
  for await (const d of coll.find({}, { projection: { _id: 1, v: 1 } })) {
    const k = Number(d._id);
    if (k < MARKER) stored.set(k, Number(d.v));
  }
  let wrong = 0;
  for (const [k, v] of final) if ((v === null ? undefined : v) !== stored.get(k)) wrong++;
  return wrong;
}

let fixtures = 0;
/** A kv table whose job writes MongoDB only, into a database of its own (f.mongoDb). */
async function fixture(prefix: string): Promise<SparkFixture> {
  const database = `${prefix}_${process.pid}_${++fixtures}`;
  const f = await sparkFixture(prefix, {
    tables: [kvTable()],
    inputs: {
      ...(REAL_TIME
        ? { realTime: true, triggerIntervalMs: Number(args['checkpoint-seconds']) * 1000 }
        : { triggerIntervalMs: 100 }),
      sinks: { mongodb: { database }, redis: null },
    },
  });
  const url = args['mongodb-url'];
  if (!url) return { ...f, mongoDb: database };
  return {
    ...f,
    mongoDb: database,
    stack: { ...f.stack, mongoUrl: url },
    env: { ...f.env, SYNCLINE_MONGODB_URI: url },
  };
}

/** Rate and duration of a watched drain, and how many keys were still wrong when the end markers arrived. */
function drainFigures(w: Awaited<ReturnType<typeof watchDrain>>): Record<string, number> {
  const s = (w.doneMs - w.firstMs) / 1000;
  const creates = w.createdMs ? (w.createdMs - w.firstMs) / 1000 : 0;
  const keys = Math.max(1, Math.floor(EVENTS / 4));
  return {
    eventsPerSecond: Math.round(EVENTS / s),
    seconds: +s.toFixed(1),
    // The first quarter (every key created) and the rest, apart: 0 when not seen.
    ...(creates > 0 && s > creates
      ? {
          createsPerSecond: Math.round(keys / creates),
          restPerSecond: Math.round((EVENTS - keys) / (s - creates)),
        }
      : {}),
    keysWrongWhenMarkersSeen: w.wrongAtMarkers,
  };
}

/** The order of the sides in pair i (0-based): Spark first in even pairs, Connect in odd ones. */
const orderOf = (i: number): Side[] =>
  (i % 2 === 0 ? ['spark', 'connect'] : ['connect', 'spark']).filter((side) => args.skip !== side) as Side[];

/** The pair whose rate is the median of the pairs' rates for one side (the lower middle one). */
function medianBy<T>(items: T[], rate: (t: T) => number | undefined): T | undefined {
  const withRate = items.filter((t) => rate(t) !== undefined);
  withRate.sort((a, b) => rate(a)! - rate(b)!);
  return withRate[Math.floor((withRate.length - 1) / 2)];
}

async function drain(mongo: MongoClient, dir: string): Promise<Record<string, unknown>> {
  const pairs: Record<string, unknown>[] = [];
  for (let i = 0; i < DRAIN_PAIRS; i++) pairs.push(await drainPair(mongo, dir, orderOf(i)));
  type Figures = { eventsPerSecond: number };
  const median = (side: Side) =>
    medianBy(pairs, (p) => (p[side] as Figures | undefined)?.eventsPerSecond)?.[side];
  const { spark: _s, connect: _c, first: _f, ...common } = pairs[0]!;
  return {
    ...common,
    ...(DRAIN_PAIRS > 1
      ? { pairs: pairs.map(({ spark, connect, first }) => ({ first, spark, connect })) }
      : {}),
    spark: median('spark'),
    connect: median('connect'),
  };
}

async function drainPair(mongo: MongoClient, dir: string, order: Side[]): Promise<Record<string, unknown>> {
  const f = await fixture('bench_connect_drain');
  const topic = f.topics.kv!;
  const { events, final } = drainEvents();
  log(`drain: producing ${EVENTS} events into ${topic}`);
  await send(f.stack.kafkaBrokers, [
    ...events.map((e) => kvMessage(topic, e)),
    ...markers(topic, 1000 + EVENTS),
  ]);
  const out: Record<string, unknown> = {
    events: EVENTS,
    keys: final.size,
    partitions: PARTITIONS,
    mode: args.mode,
    first: order[0],
  };
  const timeout = Math.max(600_000, EVENTS * 10);
  const sparkSide = async () => {
    // Micro-batch: drain what is there and exit (availableNow); real-time: run until watched done.
    const job = REAL_TIME
      ? f.jobFile
      : writeJobFile({ ...f.job, availableNow: true }, join(f.stateDir, 'drain.json'));
    const coll = mongo.db(f.mongoDb).collection('kv');
    const run = runJob(f, { jobFile: job });
    try {
      out.spark = drainFigures(await watchDrain(coll, 'spark', timeout, final));
    } finally {
      await run.stop();
    }
    log(`drain spark: ${JSON.stringify(out.spark)}`);
  };
  const connectSide = async () => {
    const database = `${f.mongoDb}_connect`;
    const coll = mongo.db(database).collection('kv');
    const worker = await startConnect({
      name: `${f.name}-sink`,
      topic,
      brokers: f.stack.kafkaBrokers.join(','),
      mongoUrl: f.stack.mongoUrl,
      database,
      dir,
    });
    try {
      out.connect = drainFigures(await watchDrain(coll, 'connect', timeout, final));
    } finally {
      await worker.stop();
      await mongo
        .db(database)
        .dropDatabase()
        .catch(() => undefined);
    }
    log(`drain connect: ${JSON.stringify(out.connect)}`);
  };
  for (const side of order) await (side === 'spark' ? sparkSide() : connectSide());
  await cleanup(f);
  return out;
}

/** Stamps the event's source commit time as now, so the job's own commit → sink histogram means something. */
const live = (m: { topic: string; key: string; value: string }) => {
  const value = JSON.parse(m.value) as { source: { ts_ms: number } };
  value.source.ts_ms = Date.now();
  return { ...m, value: JSON.stringify(value) };
};

const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * Offers RATE events/s for SECONDS (10 sends a second); one event of each send is a probe on a
 * key of its own, and its send time → the moment a poll sees it is one latency sample.
 */
async function offered(f: SparkFixture, coll: Collection<Document>, side: Side): Promise<Offered> {
  const topic = f.topics.kv!;
  const producer = new Producer({
    clientId: 'bench-connect-load',
    bootstrapBrokers: f.stack.kafkaBrokers,
    serializers: stringSerializers,
    partitioner: compatibilityPartitioner,
  });
  const keys = 5000;
  const pending = new Map<number, number>();
  const samples: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling || pending.size) {
      if (pending.size) {
        const ids = [...pending.keys()];
        const seen = await coll
          .find({ _id: { $in: ids.map((k) => idOf(side, k)) } } as never, { projection: { _id: 1 } })
          .toArray();
        const now = Date.now();
        for (const d of seen) {
          const k = Number(d._id);
          const sent = pending.get(k);
          if (sent !== undefined) {
            samples.push(now - sent);
            pending.delete(k);
          }
        }
        if (!polling && now - Math.min(...pending.values()) > 120_000) break;
      }
      await sleep(PROBE_POLL_MS);
    }
  })();
  let seq = 1_000_000;
  const per = Math.max(1, Math.round(RATE / 10));
  const started = Date.now();
  const warmTicks = 50; // the first 5 s warm both sides up and are not sampled
  let probe = 2_000_000;
  for (let tick = 0; tick < SECONDS * 10; tick++) {
    const due = started + tick * 100;
    if (due > Date.now()) await sleep(due - Date.now());
    const batch = [];
    for (let i = 0; i < per - 1; i++) {
      seq++;
      batch.push(
        live(kvMessage(topic, { k: 1 + (seq % keys), op: seq - 1_000_000 <= keys ? 'c' : 'u', seq, v: seq })),
      );
    }
    seq++;
    probe++;
    batch.push(live(kvMessage(topic, { k: probe, op: 'c', seq, v: seq })));
    const sentAt = Date.now();
    await producer.send({ messages: batch });
    if (tick >= warmTicks) pending.set(probe, sentAt);
  }
  const offeredPerSecond = Math.round(((SECONDS * 10 * per) / (Date.now() - started)) * 1000);
  polling = false;
  await poller;
  await producer.close();
  return { offeredEventsPerSecond: offeredPerSecond, samples, unseenProbes: pending.size };
}

interface Offered {
  offeredEventsPerSecond: number;
  samples: number[];
  unseenProbes: number;
}

/** Percentiles over the probes of one or more offered runs. */
function outsideFigures(runs: Offered[]): Record<string, number> {
  const s = runs.flatMap((r) => r.samples).sort((a, b) => a - b);
  return {
    offeredEventsPerSecond: Math.round(runs.reduce((a, r) => a + r.offeredEventsPerSecond, 0) / runs.length),
    probes: s.length,
    unseenProbes: runs.reduce((a, r) => a + r.unseenProbes, 0),
    p50: pct(s, 0.5),
    p95: pct(s, 0.95),
    p99: pct(s, 0.99),
  };
}

async function latency(mongo: MongoClient, dir: string): Promise<Record<string, unknown>> {
  const spark: Offered[] = [];
  const connect: Offered[] = [];
  const inJob: Record<string, unknown>[] = [];
  const pairs: Record<string, unknown>[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const order = orderOf(i);
    const pair = await latencyPair(mongo, dir, order);
    if (pair.spark) spark.push(pair.spark);
    if (pair.connect) connect.push(pair.connect);
    inJob.push(...pair.inJob);
    pairs.push({
      first: order[0],
      ...(pair.spark ? { spark: outsideFigures([pair.spark]) } : {}),
      ...(pair.connect ? { connect: outsideFigures([pair.connect]) } : {}),
    });
  }
  return {
    rate: RATE,
    seconds: SECONDS,
    probePollMs: PROBE_POLL_MS,
    ...(PAIRS > 1 ? { pairs } : {}),
    ...(spark.length
      ? { spark: { outsideMs: outsideFigures(spark), inJobMs: latencySummary(inJob, 'mongodb') } }
      : {}),
    ...(connect.length ? { connect: { outsideMs: outsideFigures(connect) } } : {}),
  };
}

async function latencyPair(
  mongo: MongoClient,
  dir: string,
  order: Side[],
): Promise<{ spark?: Offered; connect?: Offered; inJob: Record<string, unknown>[] }> {
  const out: { spark?: Offered; connect?: Offered; inJob: Record<string, unknown>[] } = { inJob: [] };
  const sparkSide = async () => {
    const f = await fixture('bench_connect_lat');
    const run = runJob(f);
    try {
      // Wait for the job to be reading before offering load, as a running pipeline would be.
      await send(f.stack.kafkaBrokers, markers(f.topics.kv!, 1));
      await watchDrain(mongo.db(f.mongoDb).collection('kv'), 'spark', 300_000);
      const from = Date.now();
      const outside = await offered(f, mongo.db(f.mongoDb).collection('kv'), 'spark');
      const windows = run.progress
        .filter((p) => Date.parse((p as { timestamp?: string }).timestamp ?? '') >= from + 5000)
        .flatMap(
          (p) =>
            Object.values((p as { tables?: Record<string, unknown> }).tables ?? {}) as Record<
              string,
              unknown
            >[],
        );
      out.spark = outside;
      out.inJob = windows;
    } finally {
      await run.stop();
      await cleanup(f);
    }
    log(`latency spark: ${JSON.stringify(outsideFigures([out.spark!]))}`);
  };
  const connectSide = async () => {
    const f = await fixture('bench_connect_lat');
    const database = `${f.mongoDb}_connect`;
    const coll = mongo.db(database).collection('kv');
    const worker = await startConnect({
      name: `${f.name}-sink`,
      topic: f.topics.kv!,
      brokers: f.stack.kafkaBrokers.join(','),
      mongoUrl: f.stack.mongoUrl,
      database,
      dir,
    });
    try {
      await send(f.stack.kafkaBrokers, markers(f.topics.kv!, 1));
      await watchDrain(coll, 'connect', 300_000);
      out.connect = await offered(f, coll, 'connect');
    } finally {
      await worker.stop();
      await mongo
        .db(database)
        .dropDatabase()
        .catch(() => undefined);
      await cleanup(f);
    }
    log(`latency connect: ${JSON.stringify(outsideFigures([out.connect!]))}`);
  };
  for (const side of order) await (side === 'spark' ? sparkSide() : connectSide());
  return out;
}

/** A failed cleanup is reported, not fatal: the figures are taken already. */
async function cleanup(f: SparkFixture): Promise<void> {
  await dropFixture(f).catch((err: Error) => log(`cleanup of ${f.name}: ${err.message}`));
}

const dir = mkdtempSync(join(tmpdir(), 'syncline-bench-connect-'));
const stack = await getStack();
const mongo = new MongoClient(args['mongodb-url'] ?? stack.mongoUrl, { directConnection: true });
await mongo.connect();
const result: Record<string, unknown> = {};
try {
  if (args.only !== 'latency') result.drain = await drain(mongo, dir);
  if (args.only !== 'drain') result.latency = await latency(mongo, dir);
} finally {
  await mongo.close();
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
