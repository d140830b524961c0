// The Kafka helpers: topic creation is idempotent and readTopics returns exactly the messages that
// existed when it was called, in partition/offset order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdmin, createProducer, ensureTopics, readTopics } from '../../src/kafka/client.ts';
import { getStack, uniqueName } from '../support/stack.ts';

test('ensureTopics creates once, readTopics reads up to the end offsets at call time', async () => {
  const stack = await getStack();
  const kafka = { brokers: stack.kafkaBrokers, clientId: 'syncline-test', tls: undefined, sasl: undefined };
  const topic = uniqueName('kc');
  const admin = createAdmin(kafka);
  const producer = createProducer(kafka, '-test');
  try {
    assert.deepEqual(await ensureTopics(admin, [topic], { partitions: 3, replicationFactor: 1 }), [topic]);
    assert.deepEqual(await ensureTopics(admin, [topic], { partitions: 3, replicationFactor: 1 }), []);
    const messages = Array.from({ length: 30 }, (_, i) => ({
      topic,
      key: `{"id":${i % 5}}`,
      value: `v${i}`,
    }));
    await producer.send({ messages });
    const read = await readTopics(kafka, [topic]);
    assert.equal(read.length, 30);
    // Per key, the order of sending is kept (one key, one partition).
    for (let k = 0; k < 5; k++) {
      const values = read.filter((m) => m.key === `{"id":${k}}`).map((m) => m.value);
      assert.deepEqual(
        values,
        messages.filter((m) => m.key === `{"id":${k}}`).map((m) => m.value),
      );
      assert.equal(new Set(read.filter((m) => m.key === `{"id":${k}}`).map((m) => m.partition)).size, 1);
    }
  } finally {
    await producer.close();
    await admin.close();
  }
});
