// The shape of syncline.yaml. Every object is strict: an unknown key is an error, because a typo
// in a config key would otherwise silently fall back to a default.
import { z } from 'zod';
import { durationMs } from './duration.ts';

const ENV_REF = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/** A secret: only a `${ENV_NAME}` reference is accepted inline, never the secret itself. */
const secretRef = z
  .string()
  .regex(ENV_REF, {
    error:
      'a reference to an environment variable such as ${MYSQL_PASSWORD} (secrets are never written in the file)',
  })
  .describe('Environment variable reference, e.g. ${MYSQL_PASSWORD}. Resolved at load; never printed.');

const filePath = z.string().min(1).describe('Path of a file whose content (trimmed) is the secret.');

const positiveInt = z.number().int().positive();
/** A duration like "250 ms" or "30 seconds", at least `minMs`. */
const duration = (minMs: number) =>
  z.string().refine((t) => (durationMs(t) ?? -1) >= minMs, {
    error:
      minMs > 0
        ? `a duration of at least ${minMs / 1000} s, like "30 seconds"`
        : 'a duration like "250 ms" or "1 second"',
  });

const tableList = z.union([z.literal('*'), z.array(z.string().min(1)).min(1)], {
  error: 'a list of table names, or "*" for every table',
});

const source = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .optional()
      .describe('Logical source name written to source.name of every event (default: kafka.topicPrefix).'),
    url: z
      .string()
      .regex(/^(mysql:\/\/|\$\{)/, { error: 'a URL like mysql://user@host:3306 (or an ${ENV} reference)' })
      .optional()
      .describe('mysql://user@host:port. Default: the local stack (.syncline/stack.json).'),
    password: secretRef.optional(),
    passwordFile: filePath.optional(),
    database: z.string().min(1).optional().describe('The database (schema) to capture.'),
    tables: tableList.default('*').describe('Tables to capture: a list, or "*" for all.'),
    capture: z.enum(['trigger', 'binlog']).default('trigger').describe('Capture mode.'),
    relay: z
      .strictObject({
        batchSize: positiveInt.max(100_000).default(5000).describe('Changelog rows per relay batch.'),
        maxRequestBytes: positiveInt
          .default(900_000)
          .describe(
            "Upper bound of one produce request; keep it below the brokers' message.max.bytes (1 MB by default).",
          ),
        maxEventBytes: positiveInt
          .default(8 * 1024 * 1024)
          .describe(
            "Largest change event (key + value, bytes) the relay publishes; a larger one, or one the broker refuses as too large, goes to <topicPrefix>.dlq as a dead letter naming the row. Keep it at or below the topics' max.message.bytes (1 MB on a default Kafka; 16 MiB on the local stack).",
          ),
        pollIntervalMs: positiveInt.default(100).describe('Wait between polls when the changelog is empty.'),
        lockWaitSeconds: positiveInt
          .default(2)
          .describe('GET_LOCK wait per attempt while another relay is active.'),
      })
      .prefault({}),
  })
  .prefault({});

const tls = z.union([
  z.boolean(),
  z.strictObject({
    caFile: filePath.optional(),
    certFile: filePath.optional(),
    keyFile: filePath.optional(),
    servername: z.string().optional(),
    rejectUnauthorized: z.boolean().default(true),
  }),
]);

const sasl = z.strictObject({
  mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
  username: z.string().min(1),
  password: secretRef.optional(),
  passwordFile: filePath.optional(),
});

const kafka = z
  .strictObject({
    brokers: z
      .array(
        z.string().regex(/^([^\s:]+:\d+|\$\{[A-Za-z_][A-Za-z0-9_]*\})$/, {
          error: 'host:port (or an ${ENV} reference)',
        }),
      )
      .min(1)
      .optional()
      .describe('Bootstrap brokers (host:port). Default: the local stack.'),
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, { error: 'letters, digits, ".", "_" or "-"' })
      .default('syncline'),
    partitions: positiveInt.default(3).describe('Partitions for topics syncline creates.'),
    replicationFactor: z.number().int().min(-1).default(-1).describe('-1 = the broker default.'),
    clientId: z.string().min(1).default('syncline'),
    tls: tls.optional(),
    sasl: sasl.optional(),
  })
  .prefault({});

const spark = z
  .strictObject({
    master: z
      .string()
      .default('local[2]')
      .describe(
        'Spark master. In real-time mode a local master is widened to one thread per Kafka partition of each sink query.',
      ),
    mode: z
      .enum(['real-time', 'micro-batch'])
      .default('real-time')
      .describe(
        'real-time: Spark Real-Time Mode, long-running tasks write each change as it arrives (needs a task slot per Kafka partition of each sink query); micro-batch: a batch every triggerInterval.',
      ),
    checkpointInterval: duration(5000)
      .default('5 minutes')
      .describe(
        'Real-time mode: how often progress is checkpointed (at least 5 seconds). Each checkpoint pauses reading for a second or two, which sets the latency tail; after a crash the changes since the last checkpoint are applied again (the version guards make that harmless).',
      ),
    triggerInterval: duration(0)
      .default('250 ms')
      .describe(
        'Micro-batch mode: how often each sink query looks for new events (a lower value is fresher and costs more idle polling).',
      ),
    maxOffsetsPerTrigger: positiveInt.optional(),
    checkpointDir: z.string().optional().describe('Default: <state-dir>/spark/checkpoints.'),
    conf: z.record(z.string(), z.string()).default({}).describe('Extra Spark configuration.'),
  })
  .prefault({});

const redisFormat = z.enum(['hash', 'json']);

const sinks = z
  .strictObject({
    mongodb: z
      .strictObject({
        url: z
          .string()
          .regex(/^(mongodb(\+srv)?:\/\/|\$\{)/, {
            error: 'a URL like mongodb://host:27017 (or an ${ENV} reference)',
          })
          .optional(),
        password: secretRef.optional(),
        passwordFile: filePath.optional(),
        database: z.string().min(1).optional().describe('Default: the source database name.'),
      })
      .prefault({}),
    redis: z
      .strictObject({
        url: z
          .string()
          .regex(/^(rediss?:\/\/|\$\{)/, { error: 'a URL like redis://host:6379 (or an ${ENV} reference)' })
          .optional(),
        password: secretRef.optional(),
        passwordFile: filePath.optional(),
        format: redisFormat.default('hash'),
        ttl: positiveInt.optional().describe('Seconds; default none.'),
      })
      .prefault({}),
  })
  .prefault({});

const rule = z.strictObject({
  name: z.string().min(1),
  expr: z.string().min(1).describe('Spark SQL boolean expression over the row image; false or NULL fails.'),
  message: z.string().optional(),
});

const tableSettings = z.strictObject({
  validate: z.array(rule).default([]),
  transform: z
    .strictObject({
      include: z.array(z.string()).optional(),
      exclude: z.array(z.string()).optional(),
      rename: z.record(z.string(), z.string()).optional(),
      fields: z.record(z.string(), z.string()).optional().describe('Output field → Spark SQL expression.'),
      filter: z
        .string()
        .optional()
        .describe('Spark SQL predicate; rows failing it are removed from the sinks.'),
    })
    .optional(),
  mongodb: z
    .strictObject({ collection: z.string().min(1).optional(), enabled: z.boolean().default(true) })
    .optional(),
  redis: z
    .strictObject({
      key: z
        .string()
        .optional()
        .describe(
          'Key template, e.g. "customer:{id}". Default {db}:{table}:{key} (database, table, key values joined by ":").',
        ),
      format: redisFormat.optional(),
      fields: z.array(z.string()).optional(),
      ttl: positiveInt.optional(),
      enabled: z.boolean().default(true),
    })
    .optional(),
});

export const configSchema = z
  .strictObject({
    source,
    kafka,
    spark,
    sinks,
    tables: z.record(z.string(), tableSettings).default({}),
  })
  .describe('syncline configuration (syncline.yaml)');

export type RawConfig = z.output<typeof configSchema>;
export type TableSettings = z.output<typeof tableSettings>;
export type ValidationRule = z.output<typeof rule>;
