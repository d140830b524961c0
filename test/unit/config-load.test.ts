// Loading syncline.yaml: every mistake a user can make produces a message that names the key path
// and what is expected; secrets come only from the environment or files and never leak into text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkTableSettings, ConfigError, loadConfig, resolveConfig } from '../../src/config/load.ts';
import { redact } from '../../src/config/redact.ts';
import { renderConfigSchema, SCHEMA_FILE } from '../../src/config/json-schema.ts';

const URLS = {
  source: { url: 'mysql://syncline@db:3306', database: 'shop' },
  kafka: { brokers: ['kafka:9092'] },
  sinks: { mongodb: { url: 'mongodb://mongo:27017' }, redis: { url: 'redis://cache:6379' } },
};

function configError(input: unknown, options: Parameters<typeof resolveConfig>[1] = {}): string {
  try {
    resolveConfig(input, { env: {}, ...options });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('the configuration was accepted');
}

test('an unknown key is an error naming its full path', () => {
  const message = configError({ ...URLS, kafka: { ...URLS.kafka, topicPrefx: 'x' } });
  assert.match(message, /^kafka\.topicPrefx: unknown key$/m);
  assert.match(configError({ ...URLS, sorce: {} }), /^sorce: unknown key$/m);
});

test('a value of the wrong type names the path, the expected type and what was found', () => {
  const message = configError({ ...URLS, kafka: { ...URLS.kafka, partitions: 'three' } });
  assert.match(message, /^kafka\.partitions: expected number, got the string "three"$/m);
  assert.match(
    configError({ ...URLS, source: { ...URLS.source, capture: 'polling' } }),
    /^source\.capture: expected one of "trigger", "binlog", got the string "polling"$/m,
  );
  assert.match(
    configError({ ...URLS, source: { ...URLS.source, tables: 'orders' } }),
    /^source\.tables: a list of table names, or "\*" for every table$/m,
  );
  assert.match(
    configError({ ...URLS, tables: { orders: { validate: [{ name: 'x' }] } } }),
    /^tables\.orders\.validate\[0\]\.expr: expected string \(missing\)$/m,
  );
});

test('every problem is reported at once, one per line', () => {
  const message = configError({
    ...URLS,
    kafka: { ...URLS.kafka, partitions: 0, bogus: 1 },
    spark: { master: 5 },
  });
  assert.equal(message.split('\n').length, 4, message);
});

test('a missing environment variable for a secret is named with the key that references it', () => {
  const message = configError({ ...URLS, source: { ...URLS.source, password: '${MYSQL_PASSWORD}' } });
  assert.match(message, /^source\.password: environment variable MYSQL_PASSWORD is not set/m);
});

test('a secret written inline is refused, in a password key and inside a URL', () => {
  assert.match(
    configError({ ...URLS, source: { ...URLS.source, password: 'hunter2' } }),
    /^source\.password: .*environment variable such as \$\{MYSQL_PASSWORD\}/m,
  );
  const message = configError({ ...URLS, source: { ...URLS.source, url: 'mysql://root:hunter2@db:3306' } });
  assert.match(message, /^source\.url: the URL contains a password; .*source\.password: \$\{ENV_NAME\}/m);
  assert.ok(!message.includes('hunter2'), 'the inline password was printed');
});

test('secrets resolve from the environment and from files, and redact() hides them afterwards', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'syncline-cfg-'));
  writeFileSync(path.join(dir, 'redis.pass'), 's3cret-from-file\n');
  const config = resolveConfig(
    {
      ...URLS,
      source: { ...URLS.source, password: '${DB_PW}' },
      kafka: {
        ...URLS.kafka,
        sasl: { mechanism: 'SCRAM-SHA-512', username: 'relay', password: '${KAFKA_PW}' },
      },
      sinks: { ...URLS.sinks, redis: { url: 'redis://cache:6379', passwordFile: 'redis.pass' } },
    },
    { env: { DB_PW: 'db-pass-123', KAFKA_PW: 'kafka-pass-456' }, file: path.join(dir, 'syncline.yaml') },
  );
  assert.equal(config.source.password, 'db-pass-123');
  assert.equal(config.kafka.sasl?.password, 'kafka-pass-456');
  assert.equal(config.sinks.redis.password, 's3cret-from-file');
  assert.equal(
    redact('login failed for db-pass-123, kafka-pass-456 and s3cret-from-file; url mysql://u:other@h:1/x'),
    'login failed for ***, *** and ***; url mysql://u:***@h:1/x',
  );
});

test('an unreadable secret file is named with its key and path', () => {
  const message = configError({
    ...URLS,
    sinks: { ...URLS.sinks, mongodb: { ...URLS.sinks.mongodb, passwordFile: '/nonexistent/mongo.pass' } },
  });
  assert.match(
    message,
    /^sinks\.mongodb\.passwordFile: cannot read secret file \/nonexistent\/mongo\.pass \(ENOENT\)$/m,
  );
});

test('URLs left out come from the local stack, and without a stack the message says how to fix it', () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'syncline-state-'));
  const missing = configError({ source: { database: 'shop' } }, { stateDir });
  assert.match(
    missing,
    /^source\.url: not set, and no local stack found at .*stack\.json \(run `syncline stack up`, or set source\.url\)$/m,
  );
  assert.match(missing, /^kafka\.brokers: not set/m);

  writeFileSync(
    path.join(stateDir, 'stack.json'),
    JSON.stringify({
      mysql: 'mysql://root@127.0.0.1:13306',
      kafka: '127.0.0.1:19092',
      mongodb: 'mongodb://127.0.0.1:37017',
      redis: 'redis://127.0.0.1:16379',
    }),
  );
  const config = resolveConfig({ source: { database: 'shop' } }, { stateDir, env: {} });
  assert.equal(config.source.url, 'mysql://root@127.0.0.1:13306');
  assert.deepEqual(config.kafka.brokers, ['127.0.0.1:19092']);
  assert.equal(config.kafka.topicPrefix, 'syncline');
  assert.equal(config.source.tables, '*');
  assert.equal(config.sinks.mongodb.database, 'shop');
  assert.equal(config.spark.checkpointDir, path.join(stateDir, 'spark', 'checkpoints'));
});

test('the database is required, from the file or --database', () => {
  assert.match(
    configError({ ...URLS, source: { url: URLS.source.url } }),
    /^source\.database: required \(set it in syncline\.yaml or pass --database\)$/m,
  );
  const config = resolveConfig(
    { ...URLS, source: { url: URLS.source.url } },
    { env: {}, overrides: { database: 'other' } },
  );
  assert.equal(config.source.database, 'other');
});

test('a YAML file is read from --config, and a missing --config file is an error', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'syncline-cfg-'));
  mkdirSync(path.join(dir, 'sub'));
  const file = path.join(dir, 'sub', 'custom.yaml');
  writeFileSync(
    file,
    'source:\n  url: mysql://app@db:3306\n  database: shop\n  tables: [orders, customers]\nkafka:\n  brokers: ["k1:9092", "k2:9092"]\n  partitions: 6\nsinks:\n  mongodb: { url: "mongodb://m:27017" }\n  redis: { url: "redis://r:6379", format: json, ttl: 60 }\n',
  );
  const config = loadConfig({ configPath: file, env: {} });
  assert.deepEqual(config.source.tables, ['orders', 'customers']);
  assert.equal(config.kafka.partitions, 6);
  assert.equal(config.sinks.redis.format, 'json');
  assert.throws(
    () => loadConfig({ configPath: path.join(dir, 'nope.yaml') }),
    /config file .*nope\.yaml not found \(--config\)/,
  );
  writeFileSync(file, 'source: [unclosed\n');
  assert.throws(() => loadConfig({ configPath: file }), /is not valid YAML/);
});

test(`the committed ${SCHEMA_FILE} is up to date with the zod schema (regenerate: syncline config schema --write)`, () => {
  const committed = readFileSync(path.resolve(import.meta.dirname, '../..', SCHEMA_FILE), 'utf8');
  // Compared as data so that formatting (prettier) does not matter.
  assert.deepEqual(JSON.parse(committed), JSON.parse(renderConfigSchema()));
});

test('a wrongly typed secret is reported without echoing the value', () => {
  const message = configError({ ...URLS, source: { ...URLS.source, password: 987654321 } });
  assert.match(message, /^source\.password: expected string, got a value that is not shown$/m);
  assert.ok(!message.includes('987654321'));
});

test('per-table settings for a table that is not captured are an error naming the key', () => {
  const config = resolveConfig(
    { ...URLS, tables: { custmers: { mongodb: { collection: 'c' } } } },
    { env: {} },
  );
  assert.throws(
    () => checkTableSettings(config, ['customers', 'orders']),
    /^ConfigError: configuration is invalid:\ntables\.custmers: not a captured table \(captured: customers, orders\)$/,
  );
  assert.doesNotThrow(() => checkTableSettings(config, ['custmers']));
});

test('the Spark mode defaults to real-time, and intervals are durations (a checkpoint interval of at least 5 s)', () => {
  const config = resolveConfig(URLS, { env: {} });
  assert.equal(config.spark.mode, 'real-time');
  assert.equal(config.spark.checkpointInterval, '5 minutes');
  assert.match(
    configError({ ...URLS, spark: { checkpointInterval: '2 seconds' } }),
    /^spark\.checkpointInterval: a duration of at least 5 s, like "30 seconds"$/m,
  );
  assert.match(
    configError({ ...URLS, spark: { triggerInterval: 'soon' } }),
    /^spark\.triggerInterval: a duration like "250 ms" or "1 second"$/m,
  );
  assert.match(
    configError({ ...URLS, spark: { mode: 'continuous' } }),
    /^spark\.mode: expected one of "real-time", "micro-batch", got the string "continuous"$/m,
  );
});
