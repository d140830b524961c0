// The job description builder: the document the Spark job reads must match its JSON Schema, carry
// the defaults the contract promises, and refuse what would break the job, naming table and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import type { TableSchema } from '../../src/model/types.ts';
import {
  buildJobDescription,
  JobDescriptionError,
  outputFields,
  type JobInputs,
} from '../../src/spark/job-description.ts';
import { localJvmOptions, parseProgressLine, shellLine, submitCommand } from '../../src/spark/launcher.ts';
import { SPARK_JAVA_FLAGS } from '../../src/stack/services/spark.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const schema = JSON.parse(
  readFileSync(path.join(ROOT, 'contract/job-description.schema.json'), 'utf8'),
) as object;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
const tables = JSON.parse(
  readFileSync(path.join(ROOT, 'jvm/spark-job/src/test/resources/golden-tables.json'), 'utf8'),
) as TableSchema[];

function inputs(extra: Partial<JobInputs> = {}): JobInputs {
  return {
    name: 'shop',
    source: { id: '6ccd780c-baba-1026-9564-5b8c656024db', label: 'shop@db1:3306' },
    kafka: { bootstrapServers: ['127.0.0.1:19092', '127.0.0.1:19093'], dlqTopic: 'syncline.dlq' },
    checkpointLocation: '/tmp/cp',
    sinks: { mongodb: { database: 'shop' }, redis: {} },
    tables: tables.map((schema) => ({ schema, topic: `syncline.shop.${schema.name}` })),
    ...extra,
  };
}

test('a job description built from the golden tables matches the JSON Schema and carries the defaults', () => {
  const job = buildJobDescription(inputs());
  assert.ok(validate(job), JSON.stringify(validate.errors));
  assert.equal(job.kafka.bootstrapServers, '127.0.0.1:19092,127.0.0.1:19093');
  assert.equal(job.kafka.startingOffsets, 'earliest');
  assert.equal(job.triggerIntervalMs, 1000);
  assert.deepEqual(job.sinks.mongodb, {
    uriEnv: 'SYNCLINE_MONGODB_URI',
    database: 'shop',
    tombstoneCollection: '_syncline_tombstones',
    tombstoneTtlSeconds: 604800,
  });
  assert.deepEqual(job.sinks.redis, { urlEnv: 'SYNCLINE_REDIS_URL', tombstoneTtlSeconds: 604800 });
  const lines = job.tables.find((t) => t.table === 'order_lines')!;
  assert.deepEqual(lines.keyColumns, ['order_id', 'line_no']);
  assert.deepEqual(lines.columns[0], {
    name: 'order_id',
    mysqlType: 'bigint(20) unsigned',
    kind: 'bigint_unsigned',
    nullable: false,
  });
  assert.deepEqual(lines.mongodb, { collection: 'order_lines' });
  assert.deepEqual(lines.redis, { keyTemplate: '{db}:{table}:{key}', format: 'hash' });
  assert.doesNotMatch(
    JSON.stringify(job),
    /mongodb:\/\/|redis:\/\//,
    'connection URLs (and their secrets) never enter the file',
  );
});

test('the schema rejects unknown keys and kinds', () => {
  const job = buildJobDescription(inputs());
  assert.equal(validate({ ...job, trigger: 1 }), false);
  const badKind = structuredClone(job) as unknown as { tables: { columns: { kind: string }[] }[] };
  badKind.tables[0]!.columns[0]!.kind = 'integer';
  assert.equal(validate(badKind), false);
});

test('transforms naming unknown columns, reserved output fields and key templates without the key are refused with table and field', () => {
  const [allTypes, orderLines] = tables;
  assert.throws(
    () =>
      buildJobDescription(
        inputs({
          tables: [
            { schema: allTypes!, topic: 't1', transform: { exclude: ['nope'], rename: { c_int: '_sync' } } },
            { schema: orderLines!, topic: 't2', redis: { keyTemplate: 'line:{order_id}:{sku}' } },
          ],
        }),
      ),
    (err: unknown) => {
      assert.ok(err instanceof JobDescriptionError);
      assert.deepEqual(err.problems, [
        'table shop.all_types: transform.exclude names unknown column nope (columns: ' +
          allTypes!.columns.map((c) => c.name).join(', ') +
          ')',
        "table shop.all_types: output field _sync is reserved for syncline's metadata; rename it",
        'table shop.order_lines: redis key template line:{order_id}:{sku} has unknown placeholder {sku} (use {table}, {db}, {key} or a key column)',
        'table shop.order_lines: redis key template line:{order_id}:{sku} must contain {key} or every key column, or rows would share one key',
      ]);
      return true;
    },
  );
});

test('sinks can be switched off per table and globally, and two tables may not share a topic', () => {
  const job = buildJobDescription(
    inputs({
      sinks: { mongodb: { database: 'shop' }, redis: null },
      tables: [
        { schema: tables[0]!, topic: 't', mongodb: null },
        { schema: tables[1]!, topic: 'u' },
      ],
    }),
  );
  assert.equal(job.sinks.redis, null);
  assert.equal(job.tables[0]!.mongodb, null);
  assert.equal(job.tables[0]!.redis, null);
  assert.throws(
    () =>
      buildJobDescription(
        inputs({
          tables: [
            { schema: tables[0]!, topic: 't' },
            { schema: tables[1]!, topic: 't' },
          ],
        }),
      ),
    /topic t is used by another table/,
  );
});

test('output fields follow include, exclude and rename, then computed fields', () => {
  assert.deepEqual(
    outputFields(['a', 'b', 'c'], { exclude: ['b'], rename: { c: 'see' }, fields: { d: '1', a: '2' } }),
    ['a', 'see', 'd'],
  );
  assert.deepEqual(outputFields(['a', 'b', 'c'], { include: ['c'] }), ['c']);
});

test('the launcher adds the module flags spark-submit would, quotes the submit line, and parses progress lines', () => {
  assert.ok(SPARK_JAVA_FLAGS.includes('--add-opens=java.base/sun.nio.ch=ALL-UNNAMED'));
  assert.ok(SPARK_JAVA_FLAGS.includes('-Dio.netty.tryReflectionSetAccessible=true'));
  const line = shellLine(
    submitCommand('/tmp/my job.json', 'spark://h:7077', { 'spark.executor.memory': '2g' }),
  );
  assert.match(
    line,
    /^spark-submit --master spark:\/\/h:7077 --deploy-mode client --class dev\.syncline\.spark\.SynclineJob .*--conf spark\.executor\.memory=2g .*spark-job-cluster\.jar '\/tmp\/my job\.json'$/,
  );
  assert.deepEqual(parseProgressLine('SYNCLINE_PROGRESS {"batchId":3,"numInputRows":7}'), {
    batchId: 3,
    numInputRows: 7,
  });
  assert.equal(parseProgressLine('some log line'), null);
});

test('the local job runs with C1 only unless SYNCLINE_SPARK_JAVA_OPTIONS says otherwise (its flags come last, so they win)', () => {
  const plain = localJvmOptions('2g', {});
  assert.equal(plain[0], '-Xmx2g');
  assert.ok(plain.includes('-XX:TieredStopAtLevel=1'));
  const own = localJvmOptions('1g', { SYNCLINE_SPARK_JAVA_OPTIONS: ' -XX:TieredStopAtLevel=4  -Xss4m ' });
  assert.deepEqual(own.slice(-2), ['-XX:TieredStopAtLevel=4', '-Xss4m']);
  assert.ok(own.indexOf('-XX:TieredStopAtLevel=1') < own.indexOf('-XX:TieredStopAtLevel=4'));
});

test('the local job runs the parallel collector unless the user chooses one (two collectors would stop the JVM)', () => {
  assert.ok(localJvmOptions('2g', {}).includes('-XX:+UseParallelGC'));
  assert.ok(localJvmOptions('2g', { SYNCLINE_SPARK_JAVA_OPTIONS: '-Xss4m' }).includes('-XX:+UseParallelGC'));
  const g1 = localJvmOptions('2g', { SYNCLINE_SPARK_JAVA_OPTIONS: '-XX:+UseG1GC' });
  assert.ok(g1.includes('-XX:+UseG1GC'));
  assert.ok(!g1.includes('-XX:+UseParallelGC'));
  const r = spawnSync('java', [...g1.filter((o) => !o.startsWith('-Xmx')), '-version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `java refused the options: ${r.stderr}`);
});

test('Kafka TLS and SASL settings become Java client options (for the env variable, never the job file)', async () => {
  const { javaKafkaOptions } = await import('../../src/spark/kafka-options.ts');
  assert.deepEqual(javaKafkaOptions({ tls: undefined, sasl: undefined }), {});
  assert.deepEqual(
    javaKafkaOptions({
      tls: { rejectUnauthorized: true, ca: 'PEM' },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p"w' },
    }),
    {
      'security.protocol': 'SASL_SSL',
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.certificates': 'PEM',
      'sasl.mechanism': 'SCRAM-SHA-512',
      'sasl.jaas.config':
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="p\\"w";',
    },
  );
});
