// Dead letters end to end: events a rule rejects land on the DLQ, `dlq list` shows them with the
// rule, and after the rule is fixed `dlq redrive` sends them back through the job exactly once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeJobFile } from '../../src/spark/launcher.ts';
import type { KafkaSettings } from '../../src/kafka/client.ts';
import { listDeadLetters, redriveDeadLetters } from '../../src/kafka/dlq.ts';
import {
  dropCreatedFixtures,
  kvMessage,
  kvTable,
  produce,
  runJob,
  sparkFixture,
  withSinks,
  type JobRun,
  type SparkFixture,
} from './spark-support.ts';

let f: SparkFixture;
let kafka: KafkaSettings;
let run: JobRun | undefined;

const rule = (limit: number) => ({
  name: 'v_small',
  expr: `v < ${limit}`,
  message: `v must be below ${limit}`,
});

before(async () => {
  f = await sparkFixture('dlq_redrive', { tables: [kvTable()], settings: () => ({ validate: [rule(100)] }) });
  kafka = { brokers: f.stack.kafkaBrokers, clientId: 'dlq-test', tls: undefined, sasl: undefined };
});

after(async () => {
  await run?.stop();
  await dropCreatedFixtures();
});

async function drain(name: string, limit: number): Promise<void> {
  const job = {
    ...f.job,
    availableNow: true,
    tables: f.job.tables.map((t) => ({ ...t, validate: [rule(limit)] })),
  };
  run = runJob(f, { jobFile: writeJobFile(job, path.join(f.stateDir, `${name}.json`)) });
  const code = await run.exited;
  assert.equal(code, 0, `the ${name} run exits cleanly; log:\n${run.logs.slice(-20).join('\n')}`);
  run = undefined;
}

test('rejected rows are listed with their rule, re-driven once after the fix, and reach MongoDB', async () => {
  const stateFile = path.join(f.stateDir, 'dlq-redrive.json');
  const topic = f.topics.kv!;
  await produce(f, [
    kvMessage(topic, { k: 1, op: 'c', seq: 1, v: 5 }),
    kvMessage(topic, { k: 2, op: 'c', seq: 2, v: 500 }),
    kvMessage(topic, { k: 3, op: 'c', seq: 3, v: 600 }),
    kvMessage(topic, { k: 4, op: 'c', seq: 4, v: 700 }),
  ]);
  await drain('strict', 100);

  const letters = await listDeadLetters(kafka, f.dlqTopic, { table: 'kv' });
  assert.deepEqual(
    letters
      .map((l) => ({ table: l.table, key: l.key, rule: l.rule, message: l.message }))
      .sort((a, b) => a.key.localeCompare(b.key)),
    [2, 3, 4].map((k) => ({
      table: 'shop.kv',
      key: JSON.stringify({ k }),
      rule: 'v_small',
      message: 'v must be below 100',
    })),
  );
  assert.equal(
    (await listDeadLetters(kafka, f.dlqTopic, { limit: 2 })).length,
    2,
    '--limit keeps the most recent',
  );
  assert.equal((await listDeadLetters(kafka, f.dlqTopic, { table: 'other' })).length, 0);

  const dry = await redriveDeadLetters(kafka, f.dlqTopic, { stateFile, dryRun: true });
  assert.equal(dry.sent.length, 3, 'a dry run reports all three');
  const nothing = await redriveDeadLetters(kafka, f.dlqTopic, { stateFile, rule: 'no_such_rule' });
  assert.equal(nothing.sent.length, 0);

  const first = await redriveDeadLetters(kafka, f.dlqTopic, { stateFile, table: 'shop.kv', rule: 'v_small' });
  assert.equal(first.sent.length, 3, 'the dry run recorded nothing; the real one sends all three');
  await drain('fixed', 1000);

  await withSinks(f, async (mongo) => {
    const docs = await mongo.db(f.mongoDb).collection('kv').find({}).sort({ _id: 1 }).toArray();
    assert.deepEqual(
      docs.map((d) => [Number(d._id), Number(d.v)]),
      [
        [1, 5],
        [2, 500],
        [3, 600],
        [4, 700],
      ],
    );
  });
  assert.equal(
    (await listDeadLetters(kafka, f.dlqTopic)).length,
    3,
    'the fixed run dead-lettered nothing new',
  );

  const second = await redriveDeadLetters(kafka, f.dlqTopic, { stateFile });
  assert.deepEqual([second.sent.length, second.skipped], [0, 3], 'a second redrive sends nothing');
});
