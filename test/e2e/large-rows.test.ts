/**
 * Very large rows through the whole pipeline (triggers → relay → Kafka → Spark → MongoDB + Redis):
 * a 5 MB JSON value and a 5 MB LONGBLOB arrive exactly in both sinks; a row whose MongoDB document
 * would exceed 16 MiB is dead-lettered by the job (Redis still gets it); and a row above the
 * relay's event limit becomes a dead letter naming it while later rows keep flowing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Binary } from 'mongodb';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { readDeadLetters } from '../../src/kafka/dlq.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { withSinks } from '../integration/spark-support.ts';
import { cliArgs } from '../support/cli.ts';
import { dropPipeline } from '../support/pipeline.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

const MB = 1024 * 1024;

let stack: TestStack;
let database: string;
let prefix: string;
let dir: string;
let configFile: string;
let stateDir: string;
let run: ChildProcess | undefined;
let runTail = '';

function writeConfig(maxEventBytes?: number): void {
  const relay = maxEventBytes === undefined ? '' : `  relay:\n    maxEventBytes: ${maxEventBytes}\n`;
  writeFileSync(
    configFile,
    `source:
  url: ${stack.mysqlUrl}
  database: ${database}
  tables: "*"
${relay}kafka:
  brokers: [${stack.kafkaBrokers.join(', ')}]
  topicPrefix: ${prefix}
  partitions: 1
spark:
  triggerInterval: 500 ms
sinks:
  mongodb:
    url: ${stack.mongoUrl}
    database: ${database}
  redis:
    url: ${stack.redisUrl}
tables:
  big:
    redis:
      key: "{db}:{table}:{key}"
  arr:
    redis:
      key: "{db}:{table}:{key}"
`,
  );
}

const args = (a: string[]) => cliArgs(configFile, stateDir, a);

function startRun(): ChildProcess {
  const child = spawn(process.execPath, args(['run', '--skip-check', '--metrics-port', '0']), {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (c: Buffer) => (runTail = (runTail + c.toString()).slice(-6000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return child;
}

async function stopRun(): Promise<void> {
  const child = run;
  run = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Waits until MongoDB and Redis both hold row `id` of `table` (Redis only when mongo is false). */
async function waitForRow(table: string, id: number, timeoutMs: number, mongo = true): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const there = await withSinks({ stack }, async (m, r) => {
      const doc = mongo
        ? await m
            .db(database)
            .collection(table)
            .findOne({ _id: id as never })
        : true;
      const hash = await r.exists(`${database}:${table}:${id}`);
      return doc !== null && hash === 1;
    });
    if (there) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${table} row ${id} did not reach the sinks in ${timeoutMs} ms; run output:\n${runTail}`);
}

before(async () => {
  stack = await getStack();
  database = uniqueName('large_rows');
  prefix = uniqueName('lr');
  dir = mkdtempSync(join(tmpdir(), 'syncline-large-'));
  configFile = join(dir, 'syncline.yaml');
  stateDir = join(dir, 'state');
  const conn = await connect({ url: stack.mysqlUrl });
  try {
    await conn.query(`CREATE DATABASE ${quoteId(database)}`);
    await conn.query(
      `CREATE TABLE ${quoteId(database)}.big (id INT PRIMARY KEY, doc JSON NULL, data LONGBLOB NULL, note VARCHAR(40) NOT NULL)`,
    );
    await conn.query(`CREATE TABLE ${quoteId(database)}.arr (id INT PRIMARY KEY, doc JSON NULL)`);
  } finally {
    await conn.end();
  }
  writeConfig();
});

after(async () => {
  await stopRun();
  await dropPipeline({ configFile, stateDir });
});

test('a 5 MB JSON and a 5 MB LONGBLOB reach MongoDB and Redis exactly; a 16 MiB+ MongoDB document is dead-lettered', async () => {
  // 5 MB of JSON text: an object of many string members.
  const json: Record<string, string> = {};
  for (let i = 0, size = 2; size < 5 * MB; i++) {
    json[`k${i}`] = randomBytes(48).toString('hex');
    size += `"k${i}":"",`.length + 96;
  }
  const blob = randomBytes(5 * MB);
  // 1.4 million small numbers: 2.8 MB of JSON, but about 18 MB as BSON (every array element
  // carries its index as a key), so MongoDB cannot store it.
  const numbers = `[${new Array(1_400_000).fill(7).join(',')}]`;
  const conn = await connect({ url: stack.mysqlUrl, database });
  const started = Date.now();
  try {
    run = startRun();
    await conn.query('INSERT INTO big (id, doc, data, note) VALUES (1, ?, NULL, ?)', [
      JSON.stringify(json),
      'json',
    ]);
    await conn.query('INSERT INTO big (id, doc, data, note) VALUES (2, NULL, ?, ?)', [blob, 'blob']);
    await conn.query('INSERT INTO arr (id, doc) VALUES (1, ?)', [numbers]);
    await conn.query("INSERT INTO big (id, doc, data, note) VALUES (3, '{}', NULL, 'small, after')");
  } finally {
    await conn.end();
  }
  const waited = await waitForRow('big', 3, 240_000);
  await waitForRow('big', 2, 60_000);
  await waitForRow('big', 1, 60_000);
  await waitForRow('arr', 1, 60_000, false);
  const seconds = (Date.now() - started) / 1000;

  await withSinks({ stack }, async (m, r) => {
    const big = m.db(database).collection('big');
    const d1 = await big.findOne({ _id: 1 as never });
    assert.deepEqual(d1!.doc, json, 'the 5 MB JSON is in MongoDB as an embedded document, exactly');
    const d2 = await big.findOne({ _id: 2 as never });
    assert.ok(
      Buffer.from((d2!.data as Binary).buffer).equals(blob),
      'the 5 MB BLOB is in MongoDB, byte for byte',
    );
    const h1 = await r.hGet(`${database}:big:1`, 'doc');
    assert.deepEqual(JSON.parse(h1!), json, 'the 5 MB JSON is in Redis');
    const h2 = await r.hGet(`${database}:big:2`, 'data');
    assert.equal(h2, blob.toString('base64'), 'the 5 MB BLOB is in Redis (base64, as the row image has it)');
    assert.equal(
      await m.db(database).collection('arr').countDocuments(),
      0,
      'MongoDB did not get the 18 MB document',
    );
    const arr = await r.hGet(`${database}:arr:1`, 'doc');
    assert.equal(arr?.replace(/\s/g, ''), numbers, 'Redis has no such limit and holds it');
  });
  const verify = spawnSync(process.execPath, args(['verify', '--table', 'big', '--json']), {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 64 * MB,
  });
  assert.equal(
    verify.status,
    0,
    `verify --table big finds the sinks equal:\n${verify.stdout}\n${verify.stderr}`,
  );

  const letters = await readDeadLetters(
    { brokers: stack.kafkaBrokers, clientId: 'large-rows', tls: undefined, sasl: undefined },
    `${prefix}.dlq`,
  );
  const letter = letters.find((l) => l.table === `${database}.arr`);
  assert.ok(letter, 'the oversized MongoDB document is on the DLQ');
  assert.equal(letter.rule, 'mongodb:document_size');
  assert.match(
    letter.message,
    /MongoDB document of this row is \d+ bytes, above MongoDB's limit of 16777216 bytes/,
  );
  assert.equal(letter.key, '{"id":1}');
  assert.equal(letter.eventTruncated, true);
  console.log(
    `# large rows: 5 MB JSON + 5 MB BLOB + 2.8 MB JSON array (${letter.eventBytes} bytes as an event) delivered in ${seconds.toFixed(1)} s (first small row after them: ${(waited / 1000).toFixed(1)} s)`,
  );
});

test('a row above source.relay.maxEventBytes becomes a dead letter naming it, and later rows keep flowing', async () => {
  await stopRun();
  writeConfig(MB);
  run = startRun();
  const conn = await connect({ url: stack.mysqlUrl, database });
  const big = JSON.stringify({ text: 'x'.repeat(2 * MB) });
  const started = Date.now();
  try {
    await conn.query("INSERT INTO big (id, doc, data, note) VALUES (10, ?, NULL, 'too big')", [big]);
    await conn.query("INSERT INTO big (id, doc, data, note) VALUES (11, '{}', NULL, 'after it')");
  } finally {
    await conn.end();
  }
  await waitForRow('big', 11, 240_000);
  const seconds = (Date.now() - started) / 1000;
  await withSinks({ stack }, async (m) => {
    assert.equal(
      await m
        .db(database)
        .collection('big')
        .findOne({ _id: 10 as never }),
      null,
      'row 10 was not published',
    );
  });
  const letters = await readDeadLetters(
    { brokers: stack.kafkaBrokers, clientId: 'large-rows', tls: undefined, sasl: undefined },
    `${prefix}.dlq`,
  );
  const letter = letters.find((l) => l.rule === 'relay:event_size');
  assert.ok(letter, 'the relay dead-lettered the oversized event');
  assert.equal(letter.table, `${database}.big`);
  assert.equal(letter.key, '{"id":10}');
  assert.match(
    letter.message,
    /change event of \d+ bytes .*above source\.relay\.maxEventBytes \(1048576 bytes\)/,
  );
  assert.match(letter.message, /raise source\.relay\.maxEventBytes/);
  assert.ok(letter.eventBytes! > 2 * MB);
  const status = JSON.parse(
    readFileSync(join(stateDir, `capture-${encodeURIComponent(database)}.json`), 'utf8'),
  ) as { deadLettered: number };
  assert.equal(status.deadLettered, 1, 'the capture status counts it');
  assert.match(
    readFileSync(join(stateDir, 'logs', 'relay.log'), 'utf8'),
    /"key":"\{\\"id\\":10\}".*"bytes":\d+,"limit":1048576.*change event too large; dead-lettered/,
    'and the relay logged it with the key, size and limit',
  );
  console.log(`# relay limit: 2 MB row dead-lettered, next row delivered in ${seconds.toFixed(1)} s`);
});
