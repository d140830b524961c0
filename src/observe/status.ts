// `syncline status`: per table, how far each stage is behind and how fast it goes, from the
// changelog, Kafka, the Spark checkpoint and the job's progress log.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import type { Connection } from 'mysql2/promise';
import { formatTable } from '../format/table.ts';
import type { Config } from '../config/load.ts';
import type { BatchProgress } from '../spark/launcher.ts';
import { progressFile, type ResolvedPipeline } from '../spark/pipeline-files.ts';
import { readBinlogPosition } from '../capture/binlog/index.ts';
import {
  binlogBytesBehind,
  binlogHead,
  compareCoordinates,
  type BinlogCoordinates,
} from '../mysql/binlog.ts';
import { runningSnapshots } from '../capture/snapshot/snapshot.ts';
import { changelogBacklog, endOffsets, sinkCommittedOffsets, topicLag, type SinkName } from './lag.ts';

export interface TableStatus {
  table: string;
  topic: string;
  /** Changelog rows not yet published to Kafka. */
  changelogBacklog: number;
  kafkaEndOffset: string;
  /** Offset sum the slowest sink has finished. */
  sparkProcessedOffset: string;
  /** Kafka messages the slowest sink has not finished (all partitions). */
  kafkaLag: string;
  /** Per sink (null when the table does not go to that sink): its own query's position and lag. */
  sinks?: Record<SinkName, { processedOffset: string; lag: string } | null>;
  /** Events per second through the Spark job over the last minute. */
  eventsPerSecond: number;
  /** Events sent to the dead-letter topic over the job's recorded history. */
  deadLetters: number;
  /** Commit → sink latency over the last minute, from the job's histograms (bucket bounds). */
  latencyMs: Record<'mongodb' | 'redis', LatencySummary>;
  /** Fields the job reports per table in its last batch (counts per outcome). */
  lastBatch: Record<string, unknown> | null;
}

export interface LatencySummary {
  samples: number;
  /** Upper bound of the bucket holding the percentile; null without samples. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/**
 * Percentiles from the job's cumulative-free bucket counts (`latency.<sink>.le_<bound>`). A
 * percentile is reported as the upper bound of its bucket: never better than the truth.
 */
export function latencySummary(
  windows: Record<string, unknown>[],
  sink: 'mongodb' | 'redis',
): LatencySummary {
  const buckets = new Map<number, number>();
  const prefix = `latency.${sink}.le_`;
  for (const stats of windows) {
    for (const [name, value] of Object.entries(stats)) {
      if (!name.startsWith(prefix)) continue;
      const bound =
        name.slice(prefix.length) === 'inf' ? Number.POSITIVE_INFINITY : Number(name.slice(prefix.length));
      buckets.set(bound, (buckets.get(bound) ?? 0) + Number(value));
    }
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const samples = [...buckets.values()].reduce((a, b) => a + b, 0);
  const at = (q: number): number | null => {
    if (samples === 0) return null;
    let seen = 0;
    for (const b of bounds) {
      seen += buckets.get(b)!;
      if (seen >= q * samples) return b;
    }
    return bounds[bounds.length - 1] ?? null;
  };
  return { samples, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

export interface PipelineStatus {
  name: string;
  tables: TableStatus[];
  deadLetterTopic: { topic: string; messages: string };
  spark: { batches: number; lastBatchAt: string | null; lastBatchMs: number | null; rowsPerSecond: number };
  /** Binlog capture only: where the reader has published up to, and the server's head. */
  binlog?: { position: BinlogCoordinates | null; head: BinlogCoordinates | null; bytesBehind: number | null };
  generatedAt: string;
}

/** Progress lines of the last `windowMs` from the job's progress log. */
export function recentProgress(file: string, windowMs: number, now = Date.now()): BatchProgress[] {
  if (!existsSync(file)) return [];
  // The log only grows: read no more than its last 4 MiB so status stays cheap on long runs.
  const size = statSync(file).size;
  const length = Math.min(size, 4 * 1024 * 1024);
  const buffer = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  const out: BatchProgress[] = [];
  for (const line of buffer.toString('utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const p = JSON.parse(line) as BatchProgress;
      if (now - Date.parse(p.timestamp) <= windowMs) out.push(p);
    } catch {
      // a line cut by the tail window or still being written
    }
  }
  return out;
}

export async function pipelineStatus(
  config: Config,
  conn: Connection,
  pipeline: ResolvedPipeline,
): Promise<PipelineStatus> {
  const { job } = pipeline;
  const backlog = await changelogBacklog(conn, config.source.database);
  const topics = [...job.tables.map((t) => t.topic), job.kafka.dlqTopic];
  const ends = await endOffsets(config.kafka, topics);
  const topicsOf = (sink: SinkName): string[] =>
    job.sinks[sink] ? job.tables.filter((t) => t[sink] !== null).map((t) => t.topic) : [];
  const processed = {
    mongodb: sinkCommittedOffsets(job.checkpointLocation, 'mongodb', topicsOf('mongodb')),
    redis: sinkCommittedOffsets(job.checkpointLocation, 'redis', topicsOf('redis')),
  };
  const now = Date.now();
  const allProgress = recentProgress(progressFile(config), Number.MAX_SAFE_INTEGER, now);
  const window = allProgress.filter((p) => now - Date.parse(p.timestamp) <= 60_000);
  // With one query per sink each event shows up once per sink: count it from the query that
  // also sends its dead letters (lines of earlier versions have no sink and count as such).
  const primary = window.filter((p) => p.primary !== false);
  const last = primary[primary.length - 1] ?? null;
  const tables = job.tables.map((t): TableStatus => {
    const sinks: NonNullable<TableStatus['sinks']> = { mongodb: null, redis: null };
    let lag: ReturnType<typeof topicLag> | null = null;
    for (const sink of ['mongodb', 'redis'] as const) {
      if (!job.sinks[sink] || t[sink] === null) continue;
      const l = topicLag(t.topic, ends, processed[sink]);
      sinks[sink] = { processedOffset: l.processedOffset.toString(), lag: l.lag.toString() };
      if (!lag || l.lag > lag.lag) lag = l;
    }
    lag ??= topicLag(t.topic, ends, processed.redis.size > 0 ? processed.redis : processed.mongodb);
    const label = `${t.db}.${t.table}`;
    let rows = 0;
    let dead = 0;
    const perBatch: Record<string, unknown>[] = [];
    for (const p of window) {
      const stats = p.tables?.[label] as Record<string, number> | undefined;
      if (stats) perBatch.push(stats);
      if (p.primary !== false) rows += Number(stats?.events ?? 0);
    }
    for (const p of allProgress) dead += Number(p.dlq?.[label] ?? 0);
    return {
      table: t.table,
      topic: t.topic,
      changelogBacklog: backlog.get(t.table) ?? 0,
      kafkaEndOffset: lag.endOffset.toString(),
      sparkProcessedOffset: lag.processedOffset.toString(),
      kafkaLag: lag.lag.toString(),
      sinks,
      eventsPerSecond: window.length > 0 ? rows / 60 : 0,
      deadLetters: dead,
      latencyMs: { mongodb: latencySummary(perBatch, 'mongodb'), redis: latencySummary(perBatch, 'redis') },
      lastBatch: (last?.tables?.[label] as Record<string, unknown> | undefined) ?? null,
    };
  });
  const dlqEnd = (ends.get(job.kafka.dlqTopic) ?? []).reduce((a, b) => a + b, 0n);
  let binlog: PipelineStatus['binlog'];
  if (config.source.capture === 'binlog') {
    const position = await readBinlogPosition(config);
    binlog = {
      position: position ? { file: position.file, position: position.position } : null,
      head: await binlogHead(conn),
      bytesBehind: position ? await binlogBytesBehind(conn, position) : null,
    };
  }
  return {
    name: job.name,
    tables,
    deadLetterTopic: { topic: job.kafka.dlqTopic, messages: dlqEnd.toString() },
    spark: {
      batches: window.length,
      lastBatchAt: last?.timestamp ?? null,
      lastBatchMs: last?.durationMs ?? null,
      rowsPerSecond: primary.reduce((a, p) => a + p.numInputRows, 0) / 60,
    },
    ...(binlog ? { binlog } : {}),
    generatedAt: new Date().toISOString(),
  };
}

export function totalLag(status: PipelineStatus): { backlog: number; kafka: bigint } {
  return {
    backlog: status.tables.reduce((a, t) => a + t.changelogBacklog, 0),
    kafka: status.tables.reduce((a, t) => a + BigInt(t.kafkaLag), 0n),
  };
}

/** Resolves once nothing waits in the changelog and Spark has finished everything in Kafka. */
export async function waitForZeroLag(
  config: Config,
  conn: Connection,
  pipeline: ResolvedPipeline,
  timeoutMs: number,
  log: (line: string) => void = () => {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Binlog capture: everything committed before this call must have been read. The head is taken
  // once, so a busy source does not move the goal.
  const target = config.source.capture === 'binlog' ? await binlogHead(conn) : null;
  let lastLog = 0;
  let zeroes = 0;
  for (;;) {
    const status = await pipelineStatus(config, conn, pipeline);
    const lag = totalLag(status);
    const read = status.binlog?.position;
    const captureBehind = target !== null && (!read || compareCoordinates(read, target) < 0);
    // A table being loaded or reloaded (after a schema change) is not in its sinks yet.
    const loading = (await runningSnapshots(conn, config.source.database)).filter((t) =>
      pipeline.tables.some((p) => p.name === t),
    );
    // Twice in a row: the relay may be between reading a batch and publishing it.
    zeroes = lag.backlog === 0 && lag.kafka === 0n && !captureBehind && loading.length === 0 ? zeroes + 1 : 0;
    if (zeroes >= 2) return;
    const where = `${target ? `binlog reader at ${read ? `${read.file}:${read.position}` : 'no position yet'} of ${target.file}:${target.position}` : `changelog backlog ${lag.backlog}`}, Kafka lag ${lag.kafka}${loading.length ? `, snapshot of ${loading.join(', ')} not finished` : ''}`;
    if (Date.now() > deadline) {
      throw new Error(
        `lag did not reach zero within ${Math.round(timeoutMs / 1000)} s (${where}). Is \`syncline run\` running?`,
      );
    }
    if (Date.now() - lastLog > 5000) {
      log(`waiting for the pipeline to catch up: ${where}`);
      lastLog = Date.now();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * p50/p99 as "≤50/≤250 ms" (bucket upper bounds), or "–" while nothing was measured: a bound of
 * 0 ms before the first batch would read as a measurement.
 */
export function formatLatency(l: LatencySummary | null): string {
  if (l === null || l.samples === 0 || l.p50 === null || l.p99 === null) return '–';
  return `≤${l.p50}/≤${l.p99} ms`;
}

export function formatStatus(status: PipelineStatus): string {
  const header = [
    'TABLE',
    'BACKLOG',
    'KAFKA END',
    'SPARK AT',
    'LAG→MONGO',
    'LAG→REDIS',
    'EVENTS/S',
    'DLQ',
    '→MONGO p50/p99',
    '→REDIS p50/p99',
  ];
  const rows = status.tables.map((t) => [
    t.table,
    String(t.changelogBacklog),
    t.kafkaEndOffset,
    t.sparkProcessedOffset,
    t.sinks ? (t.sinks.mongodb?.lag ?? 'off') : t.kafkaLag,
    t.sinks ? (t.sinks.redis?.lag ?? 'off') : t.kafkaLag,
    t.eventsPerSecond.toFixed(1),
    String(t.deadLetters),
    formatLatency(t.latencyMs.mongodb),
    formatLatency(t.latencyMs.redis),
  ]);
  const lines = [formatTable(header, rows)];
  lines.push(
    // A micro-batch reports once per batch; a real-time query about once a second while it writes.
    `spark: ${status.spark.batches} progress reports in the last minute, ${status.spark.rowsPerSecond.toFixed(1)} rows/s, last ${status.spark.lastBatchAt ?? 'never'}${status.spark.lastBatchMs !== null ? ` (covering ${status.spark.lastBatchMs} ms)` : ''}`,
  );
  lines.push(`dead letters: ${status.deadLetterTopic.messages} in ${status.deadLetterTopic.topic}`);
  if (status.binlog) {
    const { position, head, bytesBehind } = status.binlog;
    lines.push(
      `binlog: read to ${position ? `${position.file}:${position.position}` : '(not started)'}, server at ${head ? `${head.file}:${head.position}` : '?'}${bytesBehind !== null ? `, ${bytesBehind.toLocaleString('en-US')} bytes behind` : position ? ', its file is no longer on the server (purged): re-snapshot' : ''}`,
    );
  }
  return lines.join('\n');
}
