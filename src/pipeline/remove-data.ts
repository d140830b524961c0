// Removes what one pipeline wrote into its services: the demo's reset, the benches and the tests
// use it, so that repeated runs do not grow the user's local stack (decisions 0102, 0103). The Redis
// part covers the default key layout `{db}:{table}:{key}` only: entries under a custom key
// template are not found by their database's name.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import { createClient } from 'redis';
import type { Config } from '../config/load.ts';
import { urlWithPassword } from '../config/urls.ts';
import { sourceIdentity, PENDING_SOURCE_ID } from '../capture/source-id.ts';
import { createAdmin, deleteTopicsWhere } from '../kafka/client.ts';
import { topicName } from '../model/event.ts';
import { connect } from '../mysql/connect.ts';
import { quoteId } from '../mysql/identifiers.ts';
import { pipelineName, progressFile } from '../spark/pipeline-files.ts';

export interface RemoveOptions {
  /** Drop the source database in MySQL as well (a bench's or a test's own; the demo keeps its). */
  dropSource?: boolean;
  /** Only these tables' Redis entries and topics (the demo's); default: all of the database's. */
  tables?: readonly string[];
  /** Return only once the deleted topics are gone, for a caller that creates them again. */
  waitForTopics?: boolean;
}

/** A Redis MATCH pattern that matches `text` literally (database names may hold `*`, `?`, `[`). */
export function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** What {@link unlinkMatching} needs of a Redis client (node-redis types each client's options). */
interface KeyRemover {
  scanIterator(options: { MATCH: string; COUNT: number }): AsyncIterable<string[]>;
  unlink(keys: string[]): Promise<unknown>;
}

/** Unlinks every key that one of the MATCH patterns finds, a page of SCAN at a time. */
export async function unlinkMatching(redis: KeyRemover, patterns: string[]): Promise<void> {
  for (const match of patterns)
    for await (const keys of redis.scanIterator({ MATCH: match, COUNT: 1000 }))
      if (keys.length > 0) await redis.unlink(keys);
}

/**
 * The pipeline's MongoDB database, its Redis entries with their tombstones and the source's
 * truncate floors, its topics (the DLQ too), its Spark checkpoint and progress file, and with
 * `dropSource` the MySQL database. The source's identity, which names its floors, is read
 * before the database is dropped.
 */
export async function removePipelineData(config: Config, options: RemoveOptions = {}): Promise<void> {
  const db = config.source.database;
  const conn = await connect({ url: config.source.url, password: config.source.password });
  let sourceId = PENDING_SOURCE_ID;
  try {
    sourceId = (await sourceIdentity(conn, db, { create: false })).id;
    if (options.dropSource) await conn.query(`DROP DATABASE IF EXISTS ${quoteId(db)}`);
  } finally {
    await conn.end();
  }

  const mongo = new MongoClient(urlWithPassword(config.sinks.mongodb.url, config.sinks.mongodb.password));
  try {
    await mongo.connect();
    await mongo.db(config.sinks.mongodb.database).dropDatabase();
  } finally {
    await mongo.close();
  }

  const redis = createClient({ url: urlWithPassword(config.sinks.redis.url, config.sinks.redis.password) });
  redis.on('error', () => {});
  await redis.connect();
  try {
    const under = (options.tables ? options.tables.map((t) => `${db}:${t}:`) : [`${db}:`]).map(globLiteral);
    const patterns = under.flatMap((p) => [`${p}*`, `syncline:tomb:{${p}*`]);
    if (sourceId !== PENDING_SOURCE_ID) patterns.push(`syncline:floor:${globLiteral(sourceId)}:*`);
    await unlinkMatching(redis, patterns);
  } finally {
    await redis.close();
  }

  const prefix = config.kafka.topicPrefix;
  const admin = createAdmin(config.kafka);
  try {
    const named =
      options.tables && new Set([...options.tables.map((t) => topicName(prefix, db, t)), `${prefix}.dlq`]);
    const topics = await deleteTopicsWhere(admin, (t) => (named ? named.has(t) : t.startsWith(`${prefix}.`)));
    // Deletion is asynchronous: a topic recreated before it is gone keeps its old messages.
    for (let i = 0; options.waitForTopics && topics.length > 0 && i < 60; i++) {
      const left = (await admin.listTopics()).filter((t) => topics.includes(t));
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await admin.close();
  }
  rmSync(join(resolve(config.spark.checkpointDir), pipelineName(config)), { recursive: true, force: true });
  rmSync(progressFile(config), { force: true });
}
