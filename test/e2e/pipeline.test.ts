/**
 * The whole pipeline as a user runs it: seed, `syncline run`, 4 concurrent writers while the
 * snapshot runs, `verify --wait` → in sync; `status --json` while running; then sinks corrupted on
 * purpose and `verify` names exactly those keys.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { MongoClient } from 'mongodb';
import { createClient } from 'redis';
import { connect } from '../../src/mysql/connect.ts';
import { createDemoSchema, seedDemo } from '../../src/mysql/demo/seed.ts';
import { runWorkload } from '../../src/mysql/demo/workload.ts';
import { readTopics } from '../../src/kafka/client.ts';
import { snapshotState } from '../../src/capture/snapshot/snapshot.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { dropPipeline } from '../support/pipeline.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';
import { closedPort } from '../support/ports.ts';

const CLI = join(PROJECT_ROOT, 'src', 'cli', 'main.ts');
const TABLES = ['customers', 'products', 'orders', 'order_items'];

interface Fixture {
  stack: TestStack;
  database: string;
  configFile: string;
  stateDir: string;
}

function configYaml(stack: TestStack, database: string, prefix: string): string {
  // Keys carry the database name so tests sharing one Redis never meet.
  const tables = TABLES.map((t) => `  ${t}:\n    redis:\n      key: "{db}:{table}:{key}"`).join('\n');
  // A rule no generated row breaks; the dead-letter test breaks it on purpose.
  const ordersRule = `    validate:\n      - { name: notes_not_rejected, expr: "notes IS NULL OR notes NOT LIKE 'REJECT%'", message: "notes must not start with REJECT" }`;
  return `source:
  url: ${stack.mysqlUrl}
  database: ${database}
  tables: "*"
kafka:
  brokers: [${stack.kafkaBrokers.join(', ')}]
  topicPrefix: ${prefix}
  partitions: 2
spark:
  triggerInterval: 500 ms
sinks:
  mongodb:
    url: ${stack.mongoUrl}
    database: ${database}
  redis:
    url: ${stack.redisUrl}
tables:
${tables.replace('  orders:\n    redis:\n      key: "{db}:{table}:{key}"', (m) => `${m}\n${ordersRule}`)}
`;
}

function cliArgs(fx: Fixture, args: string[]): string[] {
  return ['--import', 'tsx', CLI, '--config', fx.configFile, '--state-dir', fx.stateDir, ...args];
}

function syncline(
  fx: Fixture,
  args: string[],
  timeoutMs = 400_000,
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, cliArgs(fx, args), {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The port of the live run's /metrics: a free one, not the default 9464, which another
 * pipeline on the machine (a second checkout's suite) may hold.
 */
let metricsPort = 0;

function startRun(fx: Fixture): ChildProcess {
  const child = spawn(
    process.execPath,
    cliArgs(fx, ['run', '--skip-check', '--metrics-port', String(metricsPort)]),
    {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let tail = '';
  const keep = (c: Buffer) => (tail = (tail + c.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL')
      console.log(`# run exited ${code ?? signal}; last output:\n${tail}`);
  });
  return child;
}

async function stopRun(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

interface VerifyJson {
  inSync: boolean;
  tables: {
    table: string;
    rows: number;
    sinks: {
      sink: string;
      checked: number;
      missing: number;
      extra: number;
      different: number;
      examples: { key: string; kind: string; fields?: string[] }[];
    }[];
  }[];
}

async function freshFixture(prefix: string, rows: number): Promise<Fixture> {
  const stack = await getStack();
  const database = uniqueName(prefix);
  const conn = await connect({ url: stack.mysqlUrl });
  try {
    await createDemoSchema(conn, database, { reset: true });
    await seedDemo(conn, database, rows, 7);
  } finally {
    await conn.end();
  }
  const dir = mkdtempSync(join(tmpdir(), 'syncline-e2e-'));
  const configFile = join(dir, 'syncline.yaml');
  writeFileSync(configFile, configYaml(stack, database, uniqueName('e2e')));
  return { stack, database, configFile, stateDir: join(dir, 'state') };
}

describe('the pipeline end to end', () => {
  let fx: Fixture;
  let run: ChildProcess;

  before(async () => {
    fx = await freshFixture('e2e_live', 6000);
    metricsPort = await closedPort();
  });

  after(async () => {
    if (run) await stopRun(run);
    await dropPipeline(fx);
  });

  test('snapshot while 4 writers change the tables, then verify --wait finds MySQL, MongoDB and Redis equal', async () => {
    run = startRun(fx);
    const stack = fx.stack;
    const work = await runWorkload({
      target: { url: stack.mysqlUrl },
      database: fx.database,
      ratePerSecond: 200,
      connections: 4,
      durationMs: 20_000,
      seed: 3,
    });
    console.log(
      `# workload: ${work.transactions} transactions (${work.inserts} inserts, ${work.updates} updates, ${work.deletes} deletes, ${work.errors} rolled back)`,
    );
    assert.ok(work.transactions > 1000, 'the writers really wrote');

    const out = syncline(fx, ['verify', '--wait', '300', '--json']);
    const report = JSON.parse(out.stdout) as VerifyJson;
    for (const t of report.tables)
      for (const s of t.sinks)
        console.log(
          `# verify ${t.table} ${s.sink}: ${s.checked} rows, ${s.missing} missing, ${s.extra} extra, ${s.different} different`,
        );
    assert.equal(out.code, 0, out.stderr);
    assert.equal(report.inSync, true);
    assert.ok(report.tables.reduce((a, t) => a + t.rows, 0) >= 6000);
  });

  test('status --json shows zero lag once the writers stopped, and Kafka holds every change', async () => {
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    assert.match(metrics, /syncline_kafka_lag\{table="customers"\} 0/);
    assert.match(metrics, /syncline_child_up\{child="spark"\} 1/);
    const out = syncline(fx, ['status', '--json']);
    assert.equal(out.code, 0, out.stderr);
    const status = JSON.parse(out.stdout) as {
      tables: { table: string; changelogBacklog: number; kafkaLag: string; kafkaEndOffset: string }[];
    };
    assert.deepEqual(status.tables.map((t) => t.table).sort(), [...TABLES].sort());
    for (const t of status.tables) {
      assert.equal(t.changelogBacklog, 0, `${t.table} changelog drained`);
      assert.equal(t.kafkaLag, '0', `${t.table} fully processed by Spark`);
      assert.ok(BigInt(t.kafkaEndOffset) > 0n, `${t.table} has events in Kafka`);
    }
    // Counts match: Kafka holds exactly what the relay reports it published (no fault, no retry).
    const relay = JSON.parse(
      readFileSync(join(fx.stateDir, `capture-${encodeURIComponent(fx.database)}.json`), 'utf8'),
    ) as { published: number };
    const inKafka = status.tables.reduce((a, t) => a + BigInt(t.kafkaEndOffset), 0n);
    assert.equal(inKafka, BigInt(relay.published));
  });

  test('a row that breaks a validation rule is dead-lettered, counted by status, listed by dlq list, and a fixed row syncs', async () => {
    const conn = await connect({ url: fx.stack.mysqlUrl, database: fx.database });
    try {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT MIN(id) AS id FROM orders');
      const id = String(rows[0]!.id);
      await conn.query("UPDATE orders SET notes = 'REJECT me' WHERE id = ?", [id]);
      let status: {
        tables: { table: string; deadLetters: number }[];
        deadLetterTopic: { messages: string };
      } | null = null;
      for (let i = 0; i < 240; i++) {
        const out = syncline(fx, ['status', '--json']);
        if (out.code === 0) {
          status = JSON.parse(out.stdout) as typeof status;
          if (status!.tables.find((t) => t.table === 'orders')!.deadLetters >= 1) break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(
        status!.tables.find((t) => t.table === 'orders')!.deadLetters,
        1,
        'status counts the dead letter',
      );
      assert.equal(status!.deadLetterTopic.messages, '1');
      assert.deepEqual(
        status!.tables.filter((t) => t.table !== 'orders').map((t) => t.deadLetters),
        [0, 0, 0],
      );
      const listed = syncline(fx, ['dlq', 'list', '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      const letters = listed.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { table: string; key: string; rule: string; message: string });
      assert.deepEqual(
        letters.map((l) => [l.table, l.key, l.rule, l.message]),
        [
          [
            `${fx.database}.orders`,
            JSON.stringify({ id }),
            'notes_not_rejected',
            'notes must not start with REJECT',
          ],
        ],
      );
      // The rejected version never reached the sinks; the fixed one does, and verify agrees.
      await conn.query('UPDATE orders SET notes = NULL WHERE id = ?', [id]);
      const v = syncline(fx, ['verify', '--wait', '120', '--table', 'orders', '--json']);
      assert.equal(v.code, 0, v.stdout.slice(-2000));
    } finally {
      await conn.end();
    }
  });

  test('verify reports exactly the keys corrupted in the sinks and exits non-zero', async () => {
    await stopRun(run); // nothing may repair the damage while we look
    const mongo = new MongoClient(fx.stack.mongoUrl, { useBigInt64: true });
    const redis = createClient({ url: fx.stack.redisUrl });
    await mongo.connect();
    await redis.connect();
    try {
      const customers = mongo.db(fx.database).collection('customers');
      const [victim] = await customers.find({}).sort({ _id: 1 }).limit(1).toArray();
      await customers.deleteOne({ _id: victim!._id });
      const redisKeys: string[] = [];
      for await (const keys of redis.scanIterator({ MATCH: `${fx.database}:products:*`, COUNT: 1000 }))
        redisKeys.push(...(keys as string[]));
      const changed = redisKeys.sort()[0]!;
      await redis.hSet(changed, 'name', 'tampered');
      const extraKey = `${fx.database}:orders:999999999`;
      await redis.hSet(extraKey, { id: '999999999', _sync_v: '1' });

      const out = syncline(fx, ['verify', '--json']);
      assert.equal(out.code, 1);
      const report = JSON.parse(out.stdout) as VerifyJson;
      const problems = report.tables.flatMap((t) =>
        t.sinks.flatMap((s) =>
          s.examples.map(
            (e) => `${t.table}/${s.sink}/${e.kind}/${e.key}${e.fields ? `/${e.fields.join(',')}` : ''}`,
          ),
        ),
      );
      assert.deepEqual(problems.sort(), [
        `customers/mongodb/missing/{"id":"${String(victim!._id)}"}`,
        `orders/redis/extra/${extraKey}`,
        `products/redis/different/{"id":${changed.split(':').pop()}}/name`,
      ]);
    } finally {
      await mongo.close();
      await redis.close();
    }
  });
});

describe('run killed with SIGKILL in the middle of the snapshot', () => {
  let fx: Fixture;
  let run: ChildProcess | undefined;

  before(async () => {
    fx = await freshFixture('e2e_resume', 40000);
  });

  after(async () => {
    if (run) await stopRun(run);
    await dropPipeline(fx);
  });

  test('a restarted run continues the snapshot after its last finished chunk and ends in sync', async () => {
    run = startRun(fx);
    const conn = await connect({ url: fx.stack.mysqlUrl, database: fx.database });
    let killedAt = 0;
    try {
      for (let i = 0; ; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const state = await snapshotState(conn, 'order_items').catch(() => null);
        if (state && state.status === 'running' && state.rowsDone >= 5000) {
          killedAt = state.rowsDone;
          break;
        }
        assert.ok(i < 3000, 'the snapshot of order_items should have started');
      }
      run.kill('SIGKILL');
      await new Promise((r) => run!.once('exit', r));
      const interrupted = await snapshotState(conn, 'order_items');
      assert.equal(interrupted.status, 'running');
      console.log(`# run SIGKILLed with order_items at ${interrupted.rowsDone} rows`);

      run = startRun(fx);
      const work = await runWorkload({
        target: { url: fx.stack.mysqlUrl },
        database: fx.database,
        ratePerSecond: 150,
        connections: 4,
        durationMs: 10_000,
        seed: 5,
      });
      assert.ok(work.transactions > 500);
      const out = syncline(fx, ['verify', '--wait', '400', '--json']);
      const report = JSON.parse(out.stdout) as VerifyJson;
      for (const t of report.tables)
        for (const s of t.sinks)
          console.log(
            `# verify ${t.table} ${s.sink}: ${s.checked} rows, ${s.missing} missing, ${s.extra} extra, ${s.different} different`,
          );
      assert.equal(out.code, 0, out.stderr);
      assert.equal((await snapshotState(conn, 'order_items')).status, 'done');

      // Continued, not restarted: far fewer snapshot events than a second full pass would make.
      const prefix = /topicPrefix: (\S+)/.exec(readFileSync(fx.configFile, 'utf8'))![1]!;
      const topic = `${prefix}.${fx.database}.order_items`;
      const events = await readTopics(
        { brokers: fx.stack.kafkaBrokers, clientId: 'e2e-reader', tls: undefined, sasl: undefined },
        [topic],
      );
      const reads = events.filter((m) => (JSON.parse(m.value ?? '{}') as { op?: string }).op === 'r');
      const total = (await snapshotState(conn, 'order_items')).rowsDone;
      console.log(
        `# order_items: ${total} rows snapshotted, ${reads.length} r events published (killed at ${killedAt})`,
      );
      assert.ok(reads.length >= total, 'every snapshotted row was published');
      assert.ok(reads.length < total + killedAt, 'the second run did not start over from the first key');
    } finally {
      await conn.end();
    }
  });
});
