// Where the pipeline stands, per table: rows still in the changelog (capture lag), messages in
// Kafka the Spark job has not finished yet (processing lag). Read from the sources of truth — the
// changelog table, Kafka's end offsets and the Spark checkpoint — not from the processes, so it
// works while a process is down.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { CHANGELOG_TABLE } from '../capture/trigger/ddl.ts';
import { connectionOptions, type KafkaSettings } from '../kafka/client.ts';
import { quoteId } from '../mysql/identifiers.ts';

/** Changelog rows per table (the relay has not published them yet). */
export async function changelogBacklog(conn: Connection, database: string): Promise<Map<string, number>> {
  const [exists] = await conn.query<RowDataPacket[]>(
    'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, CHANGELOG_TABLE],
  );
  if (exists.length === 0) return new Map();
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT tbl, COUNT(*) AS n FROM ${quoteId(database)}.${quoteId(CHANGELOG_TABLE)} GROUP BY tbl`,
  );
  return new Map(rows.map((r) => [String(r.tbl), Number(r.n)]));
}

/** End offset of every partition of the topics (missing topics are left out). */
export async function endOffsets(kafka: KafkaSettings, topics: string[]): Promise<Map<string, bigint[]>> {
  const consumer = new Consumer({
    ...connectionOptions(kafka, '-status'),
    groupId: `syncline-status-${process.pid}`,
    deserializers: stringDeserializers,
  });
  try {
    const out = new Map<string, bigint[]>();
    for (const topic of topics) {
      try {
        const offsets = await consumer.listOffsets({ topics: [topic] });
        const list = offsets.get(topic);
        if (list) out.set(topic, list);
      } catch {
        // topic not created yet: nothing published, nothing to lag behind
      }
    }
    return out;
  } finally {
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
}

/**
 * The offsets of the last micro-batch the Spark job finished, from its checkpoint: the batch ids
 * under commits/ are the finished ones, offsets/<id> lists each source's end offsets.
 */
export function sparkCommittedOffsets(checkpointDir: string): Map<string, Map<number, bigint>> {
  const out = new Map<string, Map<number, bigint>>();
  const commits = join(checkpointDir, 'commits');
  if (!existsSync(commits)) return out;
  const ids = readdirSync(commits)
    .filter((f) => /^\d+$/.test(f))
    .map(Number)
    .sort((a, b) => b - a);
  if (ids.length === 0) return out;
  const file = join(checkpointDir, 'offsets', String(ids[0]));
  if (!existsSync(file)) return out;
  const lines = readFileSync(file, 'utf8').split('\n');
  // Line 1 is the format version, line 2 the batch metadata, then one line per source.
  for (const line of lines.slice(2)) {
    if (!line.startsWith('{')) continue;
    const parsed = JSON.parse(line) as Record<string, Record<string, number>>;
    for (const [topic, partitions] of Object.entries(parsed)) {
      const map = out.get(topic) ?? new Map<number, bigint>();
      for (const [p, offset] of Object.entries(partitions)) map.set(Number(p), BigInt(offset));
      out.set(topic, map);
    }
  }
  return out;
}

export type SinkName = 'mongodb' | 'redis';

/**
 * In real-time mode Spark commits offsets once per checkpoint interval; in between each task
 * records how far its partition is applied in `applied/<topic>-<partition>` (the next offset).
 */
export function appliedOffsets(queryCheckpoint: string, topic: string): Map<number, bigint> {
  const out = new Map<number, bigint>();
  const dir = join(queryCheckpoint, 'applied');
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(`${topic}-`)) continue;
    const partition = name.slice(topic.length + 1);
    if (!/^\d+$/.test(partition)) continue;
    try {
      const text = readFileSync(join(dir, name), 'utf8').trim();
      if (/^\d+$/.test(text)) out.set(Number(partition), BigInt(text));
    } catch {
      // replaced while read: the next look sees the new one
    }
  }
  return out;
}

/**
 * Per partition the further of positions that are all facts (a commit, an applied position);
 * undefined when none holds any partition.
 */
function furthest(...positions: (Map<number, bigint> | undefined)[]): Map<number, bigint> | undefined {
  const out = new Map<number, bigint>();
  for (const m of positions) for (const [p, at] of m ?? []) if (at > (out.get(p) ?? -1n)) out.set(p, at);
  return out.size > 0 ? out : undefined;
}

/**
 * Where one sink's queries stand, per topic (one query per sink and table, decision 0040). A table
 * first read once for both sinks (decision 0108) has applied, in each sink, at least what its
 * shared query committed or recorded as applied. A topic without either falls back to the single
 * query of earlier versions, directly under the job's checkpoint folder: that is where the new
 * query will start.
 */
export function sinkCommittedOffsets(
  checkpointLocation: string,
  sink: SinkName,
  topics: string[],
): Map<string, Map<number, bigint>> {
  const out = new Map<string, Map<number, bigint>>();
  let old: Map<string, Map<number, bigint>> | null = null;
  for (const topic of topics) {
    const dir = join(checkpointLocation, 'sinks', sink, topic);
    const sharedDir = join(checkpointLocation, 'shared', topic);
    const own = furthest(
      sparkCommittedOffsets(dir).get(topic),
      appliedOffsets(dir, topic),
      sparkCommittedOffsets(sharedDir).get(topic),
      appliedOffsets(sharedDir, topic),
    );
    if (own) {
      out.set(topic, own);
      continue;
    }
    old ??= sparkCommittedOffsets(checkpointLocation);
    const before = old.get(topic);
    if (before) out.set(topic, before);
  }
  return out;
}

export interface TopicLag {
  topic: string;
  endOffset: bigint;
  processedOffset: bigint;
  lag: bigint;
}

export function topicLag(
  topic: string,
  ends: Map<string, bigint[]>,
  processed: Map<string, Map<number, bigint>>,
): TopicLag {
  const partitionEnds = ends.get(topic) ?? [];
  const done = processed.get(topic) ?? new Map<number, bigint>();
  let end = 0n;
  let at = 0n;
  partitionEnds.forEach((e, p) => {
    end += e;
    at += done.get(p) ?? 0n;
  });
  const lag = end - at;
  return { topic, endOffset: end, processedOffset: at, lag: lag < 0n ? 0n : lag };
}
