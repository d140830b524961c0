// Hostile messages written straight into a captured topic (no relay in between): each one lands on
// the DLQ with a reason that names it, is counted, and valid events published before and after
// them still reach MongoDB and Redis. The job runs with availableNow, so a batch that keeps failing
// shows up as a non-zero exit instead of a silent crash loop.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeJobFile } from '../../src/spark/launcher.ts';
import type { KafkaSettings } from '../../src/kafka/client.ts';
import { listDeadLetters, readDeadLetters, redriveDeadLetters } from '../../src/kafka/dlq.ts';
import {
  dropCreatedFixtures,
  kvMessage,
  kvTable,
  produce,
  readKvState,
  runJob,
  sparkFixture,
  type JobRun,
  type SparkFixture,
} from './spark-support.ts';

let f: SparkFixture;
let kafka: KafkaSettings;
let run: JobRun | undefined;

before(async () => {
  f = await sparkFixture('bad_input', { tables: [kvTable()] });
  kafka = { brokers: f.stack.kafkaBrokers, clientId: 'bad-input-test', tls: undefined, sasl: undefined };
});

after(async () => {
  await run?.stop();
  await dropCreatedFixtures();
});

const envelope = (k: number, seq: string, op = 'c', extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    op,
    before: null,
    after: { k, v: '1', note: 'x' },
    source: { name: 'syncline', db: 'shop', table: 'kv', capture: 'trigger', seq, ts_ms: 1 },
    ts_ms: 0,
    ...extra,
  });

const THREE_MB = 3 * 1024 * 1024;

test('malformed messages in a captured topic are dead-lettered with their reason and the job keeps delivering', async () => {
  const topic = f.topics.kv!;
  const bad = [
    {
      name: 'not json',
      key: '{"k":10}',
      value: 'this is not JSON {',
      rule: 'envelope',
      message: /no op field/,
    },
    {
      name: 'json but not an envelope',
      key: '{"k":11}',
      value: '{"hello":"world"}',
      rule: 'envelope',
      message: /no op field/,
    },
    {
      name: 'unknown op',
      key: '{"k":12}',
      value: envelope(12, '12', 'x'),
      rule: 'envelope',
      message: /unknown op x/,
    },
    {
      name: 'seq not digits',
      key: '{"k":13}',
      value: envelope(13, '12abc'),
      rule: 'envelope',
      message: /source\.seq must be a string of decimal digits.*12abc/,
    },
    {
      name: 'key not json',
      key: 'k=14',
      value: envelope(14, '14'),
      rule: 'key',
      message: /message key is not a JSON object/,
    },
    {
      name: 'key differs from the row',
      key: '{"k":99}',
      value: envelope(15, '15'),
      rule: 'key',
      message: /key column k is 99 in the message key but 15 in the row image/,
    },
    {
      name: 'key column missing',
      key: '{"id":16}',
      value: envelope(16, '16'),
      rule: 'key',
      message: /key column k is missing from the message key/,
    },
    {
      name: '3 MB not-JSON value',
      key: '{"k":17}',
      value: `not json ${'x'.repeat(THREE_MB)}`,
      rule: 'envelope',
      message: /no op field/,
    },
    {
      name: '3 MB seq',
      key: '{"k":18}',
      value: envelope(18, '9'.repeat(THREE_MB)),
      rule: 'envelope',
      message: /source\.seq must be a string of decimal digits/,
    },
  ];
  const bigNote = 'n'.repeat(THREE_MB);
  const bigValid = kvMessage(topic, { k: 3, op: 'c', seq: 30, v: 3 });
  bigValid.value = bigValid.value.replace('"note":"n3"', `"note":"${bigNote}"`);
  await produce(f, [
    kvMessage(topic, { k: 1, op: 'c', seq: 1, v: 1 }),
    ...bad.map((b) => ({ topic, key: b.key, value: b.value })),
    bigValid,
    kvMessage(topic, { k: 2, op: 'c', seq: 40, v: 2 }),
  ]);

  const started = Date.now();
  run = runJob(f, {
    jobFile: writeJobFile({ ...f.job, availableNow: true }, path.join(f.stateDir, 'drain.json')),
  });
  const code = await run.exited;
  const seconds = (Date.now() - started) / 1000;
  assert.equal(
    code,
    0,
    `the job drains the topic and exits cleanly; log:\n${run.logs.slice(-30).join('\n')}`,
  );
  const progress = run.progress;
  run = undefined;

  const state = await readKvState(f, [1, 2, 3]);
  for (const [k, seq] of [
    [1, 1],
    [2, 40],
    [3, 30],
  ] as const) {
    assert.deepEqual(state.mongo.get(k), { v: k, seq }, `MongoDB holds valid row ${k}`);
    assert.deepEqual(state.redis.get(k), { v: k, seq }, `Redis holds valid row ${k}`);
  }

  const letters = await readDeadLetters(kafka, f.dlqTopic);
  assert.equal(letters.length, bad.length, 'one dead letter per malformed message, no more');
  for (const b of bad) {
    const letter = letters.find((l) => l.messageKey === b.key);
    assert.ok(letter, `${b.name}: dead-lettered`);
    assert.equal(letter.table, 'shop.kv', `${b.name}: names the table`);
    assert.equal(letter.key, b.key, `${b.name}: names the key`);
    assert.equal(letter.rule, b.rule, `${b.name}: names the rule`);
    assert.match(letter.message, b.message, `${b.name}: says what is wrong`);
    assert.equal(letter.topic, topic, `${b.name}: names the topic it came from`);
  }
  for (const name of ['3 MB not-JSON value', '3 MB seq']) {
    const b = bad.find((x) => x.name === name)!;
    const letter = letters.find((l) => l.messageKey === b.key)!;
    assert.equal(letter.eventTruncated, true, `${name}: the dead letter says the event was cut`);
    assert.equal(letter.eventBytes, Buffer.byteLength(b.value), `${name}: and how big it was`);
    assert.ok(b.value.startsWith(letter.event!), `${name}: the kept part is the event's beginning`);
    assert.ok(
      letter.message.length < 2000,
      `${name}: the message is cut too (${letter.message.length} chars)`,
    );
  }
  const small = letters.find((l) => l.messageKey === '{"k":12}')!;
  assert.equal(small.eventTruncated, false, 'a small bad event is kept whole');
  assert.equal(small.event, bad[2]!.value);

  const dlqCount = progress.reduce((n, p) => n + (p.dlq?.['shop.kv'] ?? 0), 0);
  assert.equal(dlqCount, bad.length, 'the progress lines count every dead letter');
  const rules: Record<string, number> = {};
  for (const p of progress)
    for (const [rule, n] of Object.entries(
      (p.tables?.['shop.kv'] as { dlqRules?: Record<string, number> } | undefined)?.dlqRules ?? {},
    ))
      rules[rule] = (rules[rule] ?? 0) + n;
  assert.deepEqual(rules, { envelope: 6, key: 3 }, 'counted per rule');

  // A truncated dead letter no longer holds the event, so re-sending it would publish garbage.
  const redrive = await redriveDeadLetters(kafka, f.dlqTopic, {
    stateFile: path.join(f.stateDir, 'redrive.json'),
    dryRun: true,
  });
  assert.equal(redrive.sent.length, bad.length - 2, 'every whole dead letter can be re-driven');
  assert.deepEqual(
    redrive.unusable.map((l) => l.messageKey).sort(),
    ['{"k":17}', '{"k":18}'],
    'the two truncated ones cannot',
  );
  assert.match(redrive.unusable[0]!.unusableReason ?? '', /was 3145\d+ bytes.*truncated/);
  assert.equal((await listDeadLetters(kafka, f.dlqTopic, { limit: 100 })).length, bad.length);
  process.stderr.write(
    `bad-input: ${bad.length} malformed + 3 valid events drained in ${seconds.toFixed(1)} s\n`,
  );
});
