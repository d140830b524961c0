// The one place where the user's configuration and the MySQL catalog become the Spark job
// description. `run`, `spark`, `verify` and `status` all start from it, so they agree on topics,
// collections, key templates and transforms.
import { join, resolve } from 'node:path';
import type { Connection } from 'mysql2/promise';
import type { Config } from '../config/load.ts';
import { capturedTables } from '../capture/trigger/install.ts';
import { sourceIdentity } from '../capture/source-id.ts';
import { dlqTopicName, topicName } from '../model/event.ts';
import { buildJobDescription, DEFAULT_ENV } from '../spark/job-description.ts';
import { javaKafkaOptions } from '../spark/kafka-options.ts';
import { urlWithPassword } from '../config/urls.ts';
import { durationMs } from '../config/duration.ts';
import { pipelineName, progressFile, type ResolvedPipeline } from '../spark/pipeline-files.ts';

/** A duration of the config (validated at load) in milliseconds. */
export function parseInterval(text: string, key = 'spark.triggerInterval'): number {
  const ms = durationMs(text);
  if (ms === null) throw new Error(`${key}: "${text}" is not a duration like "1 second" or "500 ms"`);
  return ms;
}

export async function resolvePipeline(
  config: Config,
  conn: Connection,
  opts: { availableNow?: boolean; createIdentity?: boolean } = {},
): Promise<ResolvedPipeline> {
  const tables = await capturedTables(conn, config.source.database, config.source.tables);
  const mongoDatabase = config.sinks.mongodb.database;
  const source = await sourceIdentity(conn, config.source.database, { create: opts.createIdentity });
  const job = buildJobDescription({
    name: pipelineName(config),
    source,
    kafka: {
      bootstrapServers: config.kafka.brokers,
      dlqTopic: dlqTopicName(config.kafka.topicPrefix),
      startingOffsets: 'earliest',
      ...(config.spark.maxOffsetsPerTrigger !== undefined
        ? { maxOffsetsPerTrigger: config.spark.maxOffsetsPerTrigger }
        : {}),
    },
    checkpointLocation: join(resolve(config.spark.checkpointDir), pipelineName(config)),
    ...(config.spark.mode === 'real-time'
      ? {
          realTime: true,
          triggerIntervalMs: parseInterval(config.spark.checkpointInterval, 'spark.checkpointInterval'),
        }
      : { triggerIntervalMs: parseInterval(config.spark.triggerInterval) }),
    master: config.spark.master,
    // spark.conf of syncline.yaml: applied by the job after its own defaults.
    ...(Object.keys(config.spark.conf).length > 0 ? { conf: config.spark.conf } : {}),
    progressFile: progressFile(config),
    ...(opts.availableNow ? { availableNow: true } : {}),
    sinks: {
      mongodb: { database: mongoDatabase },
      redis: {
        format: config.sinks.redis.format,
        ...(config.sinks.redis.ttl !== undefined ? { ttlSeconds: config.sinks.redis.ttl } : {}),
      },
    },
    tables: tables.map((schema) => {
      const settings = config.tables[schema.name];
      const redis = settings?.redis;
      return {
        schema,
        topic: topicName(config.kafka.topicPrefix, config.source.database, schema.name),
        validate: settings?.validate ?? [],
        ...(settings?.transform ? { transform: settings.transform } : {}),
        mongodb:
          settings?.mongodb?.enabled === false
            ? null
            : settings?.mongodb?.collection
              ? { collection: settings.mongodb.collection }
              : {},
        redis:
          redis?.enabled === false
            ? null
            : {
                ...(redis?.key ? { keyTemplate: redis.key } : {}),
                ...(redis?.format ? { format: redis.format } : {}),
                ...(redis?.fields ? { fields: redis.fields } : {}),
                ...(redis?.ttl !== undefined ? { ttlSeconds: redis.ttl } : {}),
              },
      };
    }),
  });
  // TLS/SASL settings reach the job through the environment, never the job file (secrets).
  const kafkaOptions = javaKafkaOptions(config.kafka);
  if (Object.keys(kafkaOptions).length > 0) job.kafka.optionsEnv = DEFAULT_ENV.kafkaOptions;
  const sparkEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...(Object.keys(kafkaOptions).length > 0
      ? { [DEFAULT_ENV.kafkaOptions]: JSON.stringify(kafkaOptions) }
      : {}),
    [DEFAULT_ENV.mongodbUri]: urlWithPassword(config.sinks.mongodb.url, config.sinks.mongodb.password),
    [DEFAULT_ENV.redisUrl]: urlWithPassword(config.sinks.redis.url, config.sinks.redis.password),
  };
  return { tables, job, sparkEnv };
}
