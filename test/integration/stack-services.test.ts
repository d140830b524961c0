/**
 * The four services of the local stack answer the clients the pipeline uses, and behave the way
 * the pipeline relies on (row binlog, keyed Kafka messages, guarded upserts, Lua).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import { MongoClient, MongoServerError } from 'mongodb';
import mysql from 'mysql2/promise';
import { createClient } from 'redis';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

let stack: TestStack;

before(async () => {
  stack = await getStack();
});

describe('MariaDB of the local stack', () => {
  test('a table can be created, written and read, and the binlog is on in ROW format', async () => {
    const db = uniqueName('stack_mariadb');
    const conn = await mysql.createConnection({ uri: stack.mysqlUrl, multipleStatements: false });
    try {
      await conn.query(`CREATE DATABASE \`${db}\``);
      await conn.query(`CREATE TABLE \`${db}\`.items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL)`);
      await conn.query(`INSERT INTO \`${db}\`.items VALUES (1, 'héllo 👋')`);
      const [rows] = await conn.query(`SELECT id, name FROM \`${db}\`.items`);
      assert.deepEqual(rows, [{ id: 1, name: 'héllo 👋' }]);

      const [vars] = await conn.query(
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata')",
      );
      const byName = Object.fromEntries(
        (vars as { Variable_name: string; Value: string }[]).map((v) => [v.Variable_name, v.Value]),
      );
      assert.deepEqual(byName, {
        log_bin: 'ON',
        binlog_format: 'ROW',
        binlog_row_image: 'FULL',
        binlog_row_metadata: 'FULL',
      });
    } finally {
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await conn.end();
    }
  });
});

describe('Kafka of the local stack', () => {
  test('a keyed message produced to a new topic is consumed with its key, value and partition', async () => {
    const topic = uniqueName('stack_kafka');
    const admin = new Admin({ clientId: 'stack-test-admin', bootstrapBrokers: stack.kafkaBrokers });
    const producer = new Producer({
      clientId: 'stack-test-producer',
      bootstrapBrokers: stack.kafkaBrokers,
      serializers: stringSerializers,
      idempotent: true,
    });
    const consumer = new Consumer({
      clientId: 'stack-test-consumer',
      groupId: uniqueName('stack_group'),
      bootstrapBrokers: stack.kafkaBrokers,
      deserializers: stringDeserializers,
    });
    try {
      await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
      const key = JSON.stringify({ id: 42 });
      const value = JSON.stringify({ op: 'c', after: { id: 42, name: 'x' } });
      const sent = await producer.send({
        messages: [
          { topic, key, value },
          { topic, key, value: `${value} again` },
        ],
      });
      assert.ok((sent.offsets?.length ?? 0) > 0, 'the broker acknowledged the batch');

      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
      const received: { key: string; value: string; partition: number }[] = [];
      for await (const message of stream) {
        received.push({ key: message.key, value: message.value, partition: message.partition });
        if (received.length === 2) break;
      }
      await stream.close();
      assert.deepEqual(
        received.map((m) => [m.key, m.value]),
        [
          [key, value],
          [key, `${value} again`],
        ],
      );
      // One key, one partition: the order of a row's changes depends on it.
      assert.equal(received[0]!.partition, received[1]!.partition);
    } finally {
      await consumer.close(true);
      await producer.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.close();
    }
  });
});

describe('MongoDB stand-in of the local stack', () => {
  test('insert, upsert and find work with the official driver, and a guarded upsert of an older version fails with 11000', async () => {
    const client = new MongoClient(stack.mongoUrl, { directConnection: true });
    const dbName = uniqueName('stack_mongo');
    try {
      await client.connect();
      const coll = client
        .db(dbName)
        .collection<{ _id: number; name: string; _sync: { v: number } }>('customers');
      await coll.insertOne({ _id: 1, name: 'Ada', _sync: { v: 10 } });
      await coll.updateOne({ _id: 2 }, { $set: { name: 'Grace', _sync: { v: 5 } } }, { upsert: true });
      assert.deepEqual(await coll.find({}).sort({ _id: 1 }).toArray(), [
        { _id: 1, name: 'Ada', _sync: { v: 10 } },
        { _id: 2, name: 'Grace', _sync: { v: 5 } },
      ]);

      // Newer version: the guard matches and the document is replaced.
      const newer = await coll.replaceOne(
        { _id: 1, '_sync.v': { $lt: 11 } },
        { name: 'Ada L.', _sync: { v: 11 } },
        { upsert: true },
      );
      assert.equal(newer.modifiedCount, 1);

      // Older version: the guard does not match, the upsert tries to insert _id 1 again → 11000.
      await assert.rejects(
        coll.replaceOne(
          { _id: 1, '_sync.v': { $lt: 3 } },
          { name: 'stale', _sync: { v: 3 } },
          { upsert: true },
        ),
        (err: unknown) => err instanceof MongoServerError && err.code === 11000,
      );
      assert.deepEqual(await coll.findOne({ _id: 1 }), { _id: 1, name: 'Ada L.', _sync: { v: 11 } });
    } finally {
      await client
        .db(dbName)
        .dropDatabase()
        .catch(() => {});
      await client.close();
    }
  });
});

describe('Redis of the local stack', () => {
  test('a Lua compare-and-set script applies a newer version and refuses an older one', async () => {
    const client = createClient({ url: stack.redisUrl });
    await client.connect();
    const key = `${uniqueName('stack_redis')}:1`;
    // Set the hash only when the given version is newer than the stored one.
    const script = `
      local current = tonumber(redis.call('HGET', KEYS[1], '_v') or '-1')
      if tonumber(ARGV[1]) <= current then return 0 end
      redis.call('HSET', KEYS[1], '_v', ARGV[1], 'name', ARGV[2])
      return 1`;
    try {
      assert.equal(await client.eval(script, { keys: [key], arguments: ['5', 'first'] }), 1);
      assert.equal(await client.eval(script, { keys: [key], arguments: ['4', 'older'] }), 0);
      assert.equal(await client.eval(script, { keys: [key], arguments: ['6', 'newer'] }), 1);
      assert.deepEqual({ ...(await client.hGetAll(key)) }, { _v: '6', name: 'newer' });
    } finally {
      await client.del(key);
      await client.close();
    }
  });
});

after(() => {});
