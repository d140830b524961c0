// A topic that takes less than the relay allows (max.message.bytes 1 MB, as on a default Kafka):
// the broker answers MESSAGE_TOO_LARGE for the one big event. The relay must not retry it forever;
// it dead-letters that event and publishes the rows around it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdmin } from '../../src/kafka/client.ts';
import { readDeadLetters } from '../../src/kafka/dlq.ts';
import { capturedTables, installTriggers } from '../../src/capture/trigger/install.ts';
import { dlqTopicName, topicName } from '../../src/model/event.ts';
import { drainWithRelay, freshDatabase, readEvents } from './capture-support.ts';

test('an event the broker refuses as too large is dead-lettered and the rows around it are published', async () => {
  const fx = await freshDatabase('relay_oversized', [
    'CREATE TABLE t (id INT PRIMARY KEY, doc LONGTEXT NOT NULL)',
  ]);
  try {
    const { kafka, source } = fx.config;
    const topic = topicName(kafka.topicPrefix, source.database, 't');
    const admin = createAdmin(kafka);
    try {
      await admin.createTopics({
        topics: [topic],
        partitions: 1,
        replicas: 1,
        configs: [{ name: 'max.message.bytes', value: '1048576' }],
      });
    } finally {
      await admin.close();
    }
    await installTriggers(fx.conn, await capturedTables(fx.conn, fx.database, '*'));
    await fx.conn.query("INSERT INTO t VALUES (1, 'small before')");
    await fx.conn.query('INSERT INTO t VALUES (2, ?)', ['y'.repeat(2 * 1024 * 1024)]);
    await fx.conn.query("INSERT INTO t VALUES (3, 'small after')");
    assert.ok(fx.config.source.relay.maxEventBytes > 2 * 1024 * 1024, 'the relay itself would allow it');

    const started = Date.now();
    const published = await drainWithRelay(fx.config, fx.conn, 90_000);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(published, 3, 'all three changelog rows were handled (two events, one dead letter)');

    const events = await readEvents(fx.config, ['t']);
    assert.deepEqual(
      events.map((e) => e.key).sort(),
      ['{"id":1}', '{"id":3}'],
      'the small rows reached their topic',
    );
    const letters = await readDeadLetters(kafka, dlqTopicName(kafka.topicPrefix));
    assert.equal(letters.length, 1);
    const letter = letters[0]!;
    assert.equal(letter.table, `${fx.database}.t`);
    assert.equal(letter.key, '{"id":2}');
    assert.equal(letter.rule, 'relay:event_size');
    assert.match(letter.message, /refused by the broker as too large \(MESSAGE_TOO_LARGE/);
    assert.match(letter.message, new RegExp(`max\\.message\\.bytes of topic ${topic.replace(/\./g, '\\.')}`));
    assert.ok(letter.eventBytes! > 2 * 1024 * 1024, `the size is recorded (${letter.eventBytes})`);
    console.log(
      `# broker refused a ${letter.eventBytes}-byte event; dead-lettered, drained in ${seconds.toFixed(1)} s`,
    );
  } finally {
    await fx.close();
  }
});
