// The job description: the one JSON document the Spark job reads (contract/job-description.md).
// The TypeScript side builds it from resolved inputs (config + MySQL catalog); the JVM never sees
// a second configuration language, and the file never holds a secret (only env variable names).
import type { ColumnKind, TableSchema } from '../model/types.ts';

export const JOB_DESCRIPTION_VERSION = 1;

export interface JobColumn {
  name: string;
  /** MySQL COLUMN_TYPE, e.g. `decimal(65,30)`, `bigint(20) unsigned`. */
  mysqlType: string;
  kind: ColumnKind;
  nullable: boolean;
}

export interface JobRule {
  name: string;
  /** Spark SQL boolean expression over the typed row; false or NULL fails. */
  expr: string;
  message?: string;
}

export interface JobTransform {
  include?: string[];
  exclude?: string[];
  rename?: Record<string, string>;
  fields?: Record<string, string>;
  filter?: string;
}

export interface JobTableMongo {
  collection: string;
}

export interface JobTableRedis {
  keyTemplate: string;
  format: 'hash' | 'json';
  fields?: string[];
  ttlSeconds?: number;
}

export interface JobTable {
  db: string;
  table: string;
  topic: string;
  keyColumns: string[];
  columns: JobColumn[];
  validate: JobRule[];
  transform: JobTransform;
  mongodb: JobTableMongo | null;
  redis: JobTableRedis | null;
}

/** Who writes: sinks stamp `id` on every entry and report entries stamped by another source. */
export interface JobSource {
  id: string;
  label: string;
}

export interface JobDescription {
  version: 1;
  name: string;
  source: JobSource;
  kafka: {
    bootstrapServers: string;
    /** Name of an env variable holding a JSON object of extra Kafka client options (TLS, SASL). */
    optionsEnv?: string;
    dlqTopic: string;
    startingOffsets: 'earliest' | 'latest';
    maxOffsetsPerTrigger?: number;
  };
  checkpointLocation: string;
  /** Micro-batch trigger interval, or in real-time mode the checkpoint interval. */
  triggerIntervalMs: number;
  /** Spark Real-Time Mode (decision 0044); an availableNow run is always micro-batch. */
  realTime?: boolean;
  /** Process what Kafka holds now, then exit (catch-up runs, tests). */
  availableNow?: boolean;
  /** Spark master for `java -cp` runs; spark-submit's --master wins. Default local[2]. */
  master?: string;
  shufflePartitions?: number;
  /** Extra Spark configuration (spark.* keys), applied after syncline's defaults. */
  conf?: Record<string, string>;
  /** Append each batch's progress JSON here (read by `syncline status`). */
  progressFile?: string;
  sinks: {
    mongodb: {
      uriEnv: string;
      database: string;
      tombstoneCollection: string;
      tombstoneTtlSeconds: number;
    } | null;
    redis: { urlEnv: string; tombstoneTtlSeconds: number } | null;
  };
  tables: JobTable[];
}

/** Default env variable names the launcher fills in from the resolved config. */
export const DEFAULT_ENV = {
  mongodbUri: 'SYNCLINE_MONGODB_URI',
  redisUrl: 'SYNCLINE_REDIS_URL',
  kafkaOptions: 'SYNCLINE_KAFKA_OPTIONS',
} as const;

/** Tombstones must outlive any replay window (relay crash + Kafka retention): a week. */
export const DEFAULT_TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600;

export interface JobTableInput {
  schema: TableSchema;
  topic: string;
  validate?: JobRule[];
  transform?: JobTransform;
  /** null disables the MongoDB sink for this table; default collection = table name. */
  mongodb?: { collection?: string } | null;
  /** null disables the Redis sink for this table. */
  redis?: { keyTemplate?: string; format?: 'hash' | 'json'; fields?: string[]; ttlSeconds?: number } | null;
}

export interface JobInputs {
  name: string;
  source: JobSource;
  kafka: {
    bootstrapServers: string[] | string;
    optionsEnv?: string;
    dlqTopic: string;
    startingOffsets?: 'earliest' | 'latest';
    maxOffsetsPerTrigger?: number;
  };
  checkpointLocation: string;
  triggerIntervalMs?: number;
  realTime?: boolean;
  availableNow?: boolean;
  master?: string;
  shufflePartitions?: number;
  conf?: Record<string, string>;
  progressFile?: string;
  sinks: {
    mongodb?: {
      uriEnv?: string;
      database: string;
      tombstoneCollection?: string;
      tombstoneTtlSeconds?: number;
    } | null;
    redis?: {
      urlEnv?: string;
      format?: 'hash' | 'json';
      ttlSeconds?: number;
      tombstoneTtlSeconds?: number;
    } | null;
  };
  tables: JobTableInput[];
}

export class JobDescriptionError extends Error {
  constructor(readonly problems: string[]) {
    super(`the Spark job description is not valid:\n  ${problems.join('\n  ')}`);
    this.name = 'JobDescriptionError';
  }
}

/**
 * Build the job description from plain resolved inputs. Checks everything that needs no Spark
 * (names, columns, key template); Spark SQL expressions are checked by the job itself
 * (`checkJobDescription` in launcher.ts runs its `--check` mode).
 */
export function buildJobDescription(inputs: JobInputs): JobDescription {
  const problems: string[] = [];
  const mongoSink = inputs.sinks.mongodb ?? null;
  const redisSink = inputs.sinks.redis ?? null;
  if (!mongoSink && !redisSink) problems.push('sinks: enable MongoDB, Redis or both');
  if (inputs.tables.length === 0) problems.push('tables: no table to sync');

  const tables: JobTable[] = inputs.tables.map((t) => buildTable(t, inputs, problems));
  const topics = new Set<string>();
  for (const t of tables) {
    if (topics.has(t.topic))
      problems.push(`table ${t.db}.${t.table}: topic ${t.topic} is used by another table`);
    topics.add(t.topic);
  }
  if (problems.length > 0) throw new JobDescriptionError(problems);

  const brokers = Array.isArray(inputs.kafka.bootstrapServers)
    ? inputs.kafka.bootstrapServers.join(',')
    : inputs.kafka.bootstrapServers;
  const job: JobDescription = {
    version: JOB_DESCRIPTION_VERSION,
    name: inputs.name,
    source: { id: inputs.source.id, label: inputs.source.label },
    kafka: {
      bootstrapServers: brokers,
      dlqTopic: inputs.kafka.dlqTopic,
      startingOffsets: inputs.kafka.startingOffsets ?? 'earliest',
    },
    checkpointLocation: inputs.checkpointLocation,
    triggerIntervalMs: inputs.triggerIntervalMs ?? 1000,
    sinks: {
      mongodb: mongoSink
        ? {
            uriEnv: mongoSink.uriEnv ?? DEFAULT_ENV.mongodbUri,
            database: mongoSink.database,
            tombstoneCollection: mongoSink.tombstoneCollection ?? '_syncline_tombstones',
            tombstoneTtlSeconds: mongoSink.tombstoneTtlSeconds ?? DEFAULT_TOMBSTONE_TTL_SECONDS,
          }
        : null,
      redis: redisSink
        ? {
            urlEnv: redisSink.urlEnv ?? DEFAULT_ENV.redisUrl,
            tombstoneTtlSeconds: redisSink.tombstoneTtlSeconds ?? DEFAULT_TOMBSTONE_TTL_SECONDS,
          }
        : null,
    },
    tables,
  };
  if (inputs.kafka.optionsEnv) job.kafka.optionsEnv = inputs.kafka.optionsEnv;
  if (inputs.kafka.maxOffsetsPerTrigger !== undefined)
    job.kafka.maxOffsetsPerTrigger = inputs.kafka.maxOffsetsPerTrigger;
  if (inputs.availableNow) job.availableNow = true;
  if (inputs.realTime) job.realTime = true;
  if (inputs.master) job.master = inputs.master;
  if (inputs.shufflePartitions !== undefined) job.shufflePartitions = inputs.shufflePartitions;
  if (inputs.progressFile) job.progressFile = inputs.progressFile;
  if (inputs.conf && Object.keys(inputs.conf).length > 0) job.conf = { ...inputs.conf };
  return job;
}

/**
 * The database is part of the default key: two source databases with the same table names share
 * one Redis without meeting (issue 11). Entries still carry their source's id for the case a
 * template cannot separate (two servers with the same database name).
 */
export const DEFAULT_REDIS_KEY_TEMPLATE = '{db}:{table}:{key}';

const KEY_PLACEHOLDER = /\{([^{}]*)\}/g;
const RESERVED_FIELDS = new Set(['_id', '_sync']);

function buildTable(input: JobTableInput, inputs: JobInputs, problems: string[]): JobTable {
  const s = input.schema;
  const label = `table ${s.database}.${s.name}`;
  const names = new Set(s.columns.map((c) => c.name));
  if (s.primaryKey.length === 0)
    problems.push(`${label}: has no primary key; syncline needs one to key Kafka messages and sink entries`);

  const transform: JobTransform = {};
  const tr = input.transform ?? {};
  const knownColumns = (field: string, list: string[] | undefined): void => {
    for (const c of list ?? [])
      if (!names.has(c))
        problems.push(
          `${label}: transform.${field} names unknown column ${c} (columns: ${[...names].join(', ')})`,
        );
  };
  knownColumns('include', tr.include);
  knownColumns('exclude', tr.exclude);
  knownColumns('rename', Object.keys(tr.rename ?? {}));
  if (tr.include) transform.include = [...tr.include];
  if (tr.exclude) transform.exclude = [...tr.exclude];
  if (tr.rename && Object.keys(tr.rename).length > 0) transform.rename = { ...tr.rename };
  if (tr.fields && Object.keys(tr.fields).length > 0) transform.fields = { ...tr.fields };
  if (tr.filter) transform.filter = tr.filter;

  const outputs = outputFields(
    s.columns.map((c) => c.name),
    transform,
  );
  for (const f of outputs) {
    if (RESERVED_FIELDS.has(f) || f.startsWith('_sync_'))
      problems.push(`${label}: output field ${f} is reserved for syncline's metadata; rename it`);
  }
  for (const f of Object.keys(transform.fields ?? {})) {
    if (f.trim() === '') problems.push(`${label}: transform.fields has an empty field name`);
  }

  const ruleNames = new Set<string>();
  for (const r of input.validate ?? []) {
    if (ruleNames.has(r.name)) problems.push(`${label}: two validation rules are named ${r.name}`);
    ruleNames.add(r.name);
  }

  let mongodb: JobTableMongo | null = null;
  if (inputs.sinks.mongodb && input.mongodb !== null)
    mongodb = { collection: input.mongodb?.collection ?? s.name };

  let redis: JobTableRedis | null = null;
  if (inputs.sinks.redis && input.redis !== null) {
    const r = input.redis ?? {};
    redis = {
      keyTemplate: r.keyTemplate ?? DEFAULT_REDIS_KEY_TEMPLATE,
      format: r.format ?? inputs.sinks.redis.format ?? 'hash',
    };
    if (r.fields) {
      for (const f of r.fields)
        if (!outputs.includes(f))
          problems.push(`${label}: redis.fields names ${f}, which is not an output field`);
      redis.fields = [...r.fields];
    }
    const ttl = r.ttlSeconds ?? inputs.sinks.redis.ttlSeconds;
    if (ttl !== undefined) redis.ttlSeconds = ttl;
    const placeholders = [...redis.keyTemplate.matchAll(KEY_PLACEHOLDER)].map((m) => m[1]!);
    const hasKey = placeholders.includes('key') || s.primaryKey.every((k) => placeholders.includes(k));
    for (const p of placeholders) {
      if (p !== 'key' && p !== 'table' && p !== 'db' && !s.primaryKey.includes(p))
        problems.push(
          `${label}: redis key template ${redis.keyTemplate} has unknown placeholder {${p}} (use {table}, {db}, {key} or a key column)`,
        );
    }
    if (!hasKey && s.primaryKey.length > 0) {
      problems.push(
        `${label}: redis key template ${redis.keyTemplate} must contain {key} or every key column, or rows would share one key`,
      );
    }
  }

  return {
    db: s.database,
    table: s.name,
    topic: input.topic,
    keyColumns: [...s.primaryKey],
    columns: s.columns.map((c) => ({
      name: c.name,
      mysqlType: c.columnType,
      kind: c.kind,
      nullable: c.nullable,
    })),
    validate: (input.validate ?? []).map((r) =>
      r.message ? { name: r.name, expr: r.expr, message: r.message } : { name: r.name, expr: r.expr },
    ),
    transform,
    mongodb,
    redis,
  };
}

/** The fields a sink entry gets, in order: columns after include/exclude/rename, then computed fields. */
export function outputFields(columns: string[], transform: JobTransform): string[] {
  const out: string[] = [];
  for (const c of columns) {
    if (transform.include && !transform.include.includes(c)) continue;
    if (transform.exclude?.includes(c)) continue;
    out.push(transform.rename?.[c] ?? c);
  }
  for (const f of Object.keys(transform.fields ?? {})) if (!out.includes(f)) out.push(f);
  return out;
}
