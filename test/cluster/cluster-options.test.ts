/**
 * The cluster flags of `stack up` and the submit path of a cluster master, without starting
 * anything: the default stack keeps its shape, the shape of the last `up` is remembered for
 * `status` and `down`, bad values are named, and a `spark://` job is started with spark-submit.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLUSTER_JAR, submitCommand } from '../../src/spark/launcher.ts';
import { optionsFile, resolveStackOptions } from '../../src/stack/options.ts';
import { topicConfigs } from '../../src/kafka/client.ts';
import { KafkaService } from '../../src/stack/services/kafka.ts';

const NO_ENV = {};

test('without cluster flags the stack is one broker and no Spark processes, as before', () => {
  const opts = resolveStackOptions({ stateDir: mkdtempSync(join(tmpdir(), 'cl-opt-')) }, NO_ENV);
  assert.equal(opts.sparkWorkers, 0);
  assert.equal(opts.kafkaBrokers, 1);
  assert.equal(opts.ports.clusterBase, 19200);
});

test('status and down see the brokers and workers the last up started', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cl-opt-'));
  writeFileSync(
    optionsFile(stateDir),
    JSON.stringify({ ports: { clusterBase: 29000 }, sparkWorkers: 2, kafkaBrokers: 3, sparkWorkerCores: 8 }),
  );
  const opts = resolveStackOptions({ stateDir }, NO_ENV);
  assert.deepEqual(
    [opts.sparkWorkers, opts.kafkaBrokers, opts.sparkWorkerCores, opts.ports.clusterBase],
    [2, 3, 8, 29000],
  );
  assert.equal(resolveStackOptions({ stateDir, sparkWorkers: '1' }, NO_ENV).sparkWorkers, 1);
});

test('a bad worker or broker count is named with its flag and the allowed range', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cl-opt-'));
  assert.throws(
    () => resolveStackOptions({ stateDir, kafkaBrokers: '0' }, NO_ENV),
    /--kafka-brokers: "0" is not a whole number from 1 to 20/,
  );
  assert.throws(
    () => resolveStackOptions({ stateDir, sparkWorkers: 'two' }, NO_ENV),
    /--spark-workers: "two" is not a whole number from 0 to 15/,
  );
  assert.throws(
    () => resolveStackOptions({ stateDir, sparkWorkerMemory: 'lots' }, NO_ENV),
    /--spark-worker-memory: "lots" is not a size like 1024m or 2g/,
  );
});

test('topics with 3 or more copies need 2 in sync; fewer copies keep the broker default', () => {
  assert.deepEqual(topicConfigs(3), [{ name: 'min.insync.replicas', value: '2' }]);
  assert.deepEqual(topicConfigs(1), []);
  assert.deepEqual(topicConfigs(-1), []);
});

test("a spark:// job starts with the SPARK_HOME's spark-submit, in client mode, with no secret on the command line", () => {
  const dir = mkdtempSync(join(tmpdir(), 'cl-submit-'));
  const home = join(dir, 'spark-home');
  mkdirSync(join(home, 'bin'), { recursive: true });
  writeFileSync(join(home, 'bin', 'spark-submit'), '#!/bin/sh\n');
  chmodSync(join(home, 'bin', 'spark-submit'), 0o755);
  const jobFile = join(dir, 'spark', 'shop.job.json');
  mkdirSync(join(dir, 'spark'));
  writeFileSync(jobFile, JSON.stringify({ master: 'spark://127.0.0.1:7077' }));
  const before = process.env.SPARK_HOME;
  const beforeUri = process.env.SYNCLINE_MONGODB_URI;
  process.env.SPARK_HOME = home;
  process.env.SYNCLINE_MONGODB_URI = 'mongodb://user:s3cret@db/';
  try {
    const cmd = submitCommand(jobFile, 'spark://127.0.0.1:7077');
    assert.equal(cmd.command, join(home, 'bin', 'spark-submit'));
    assert.deepEqual(cmd.args.slice(0, 4), ['--master', 'spark://127.0.0.1:7077', '--deploy-mode', 'client']);
    assert.ok(
      cmd.args.includes('spark.driver.host=127.0.0.1'),
      'a loopback master keeps the driver on loopback',
    );
    assert.deepEqual(cmd.args.slice(-2), [CLUSTER_JAR, jobFile]);
    assert.ok(!cmd.args.join(' ').includes('s3cret'));
  } finally {
    if (before === undefined) delete process.env.SPARK_HOME;
    else process.env.SPARK_HOME = before;
    if (beforeUri === undefined) delete process.env.SYNCLINE_MONGODB_URI;
    else process.env.SYNCLINE_MONGODB_URI = beforeUri;
  }
  // A user's own cluster: no loopback special case.
  const remote = submitCommand(jobFile, 'spark://spark-master:7077');
  assert.ok(!remote.args.includes('spark.driver.host=127.0.0.1'));
});

test('a Kafka formatted for one broker refuses to join a 3-broker quorum, and says how to fix it', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'cl-quorum-'));
  mkdirSync(join(stateDir, 'kafka', 'data'), { recursive: true });
  writeFileSync(join(stateDir, 'kafka', 'data', 'meta.properties'), 'node.id=1\n');
  const opts = resolveStackOptions({ stateDir, kafkaBrokers: '3' }, NO_ENV);
  await assert.rejects(new KafkaService(opts, 1).prepare(), (err: Error) => {
    assert.match(err.message, /was formatted for 1 broker\(s\), not the 3 asked for now/);
    assert.match(err.message, /--kafka-brokers 1/);
    assert.match(err.message, /stack down` and delete .*kafka\*/);
    return true;
  });
});
