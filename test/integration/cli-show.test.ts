/**
 * `syncline show` (issue 13) and the demo's closing hints, with the real CLI and the real stores.
 * The sink entries are written here where the pipeline would write them (default layout: MongoDB
 * <db>.<table>, `_id` the key value or key object; Redis `<db>:<table>:<key values>`), so the test
 * proves that `show` addresses them as the Spark job does; and every command the demo prints runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { createClient } from 'redis';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { demoHints } from '../../src/pipeline/demo.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { CLI } from '../support/cli.ts';
import { dropEverywhere } from '../support/pipeline.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let database: string;

function show(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', CLI, '--state-dir', stack.stateDir, 'show', ...args, '--database', database],
    { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 120_000 },
  );
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** The table's line for a field: FIELD MYSQL MONGODB REDIS, split on the column gaps. */
function cells(stdout: string, field: string): string[] {
  const line = stdout.split('\n').find((l) => l.startsWith(`${field} `));
  assert.ok(line, `no line for ${field} in:\n${stdout}`);
  return line.split(/ {2,}/);
}

describe('syncline show and the demo hints', () => {
  before(async () => {
    stack = await getStack();
    database = uniqueName('show');
    const conn = await connect({ url: stack.mysqlUrl });
    try {
      await conn.query(`CREATE DATABASE ${quoteId(database)}`);
      await conn.query(
        `CREATE TABLE ${quoteId(database)}.customers (id INT PRIMARY KEY, name VARCHAR(40), born DATE)`,
      );
      await conn.query(
        `INSERT INTO ${quoteId(database)}.customers VALUES (1, 'Ada', '1815-12-10'), (2, 'Bob', NULL)`,
      );
      await conn.query(
        `CREATE TABLE ${quoteId(database)}.order_lines (order_id INT, line INT, qty INT, PRIMARY KEY (order_id, line))`,
      );
      await conn.query(`INSERT INTO ${quoteId(database)}.order_lines VALUES (7, 2, 30)`);
    } finally {
      await conn.end();
    }
    const mongo = new MongoClient(stack.mongoUrl);
    await mongo.connect();
    try {
      await mongo
        .db(database)
        .collection('customers')
        .insertOne({ _id: 1 as never, id: 1, name: 'Ada', born: '1815-12-10' });
      // Bob's document is stale on purpose: show must make the difference visible.
      await mongo
        .db(database)
        .collection('customers')
        .insertOne({ _id: 2 as never, id: 2, name: 'Robert', born: null });
      await mongo
        .db(database)
        .collection('order_lines')
        .insertOne({ _id: { order_id: 7, line: 2 } as never, order_id: 7, line: 2, qty: 30 });
      // In MongoDB only: a row deleted from MySQL whose document was left behind.
      await mongo
        .db(database)
        .collection('customers')
        .insertOne({ _id: 9 as never, id: 9, name: 'Ghost' });
    } finally {
      await mongo.close();
    }
    const redis = createClient({ url: stack.redisUrl });
    await redis.connect();
    try {
      await redis.hSet(`${database}:customers:1`, {
        id: '1',
        name: 'Ada',
        born: '1815-12-10',
        _sync_v: '41',
      });
      await redis.hSet(`${database}:order_lines:7:2`, { order_id: '7', line: '2', qty: '30' });
    } finally {
      await redis.close();
    }
  });

  after(async () => {
    await dropEverywhere(stack, database);
    const redis = createClient({ url: stack.redisUrl });
    await redis.connect();
    await redis.del([`${database}:customers:1`, `${database}:order_lines:7:2`]);
    await redis.close();
  });

  test('show customers 1 prints the MySQL row, the MongoDB document and the Redis hash side by side', () => {
    const r = show(['customers', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`MongoDB ${database}\\.customers _id 1\\n`));
    assert.match(r.stdout, new RegExp(`Redis key ${database}:customers:1\\n`));
    assert.deepEqual(cells(r.stdout, 'name'), ['name', 'Ada', 'Ada', 'Ada']);
    assert.deepEqual(cells(r.stdout, 'born'), ['born', '1815-12-10', '1815-12-10', '1815-12-10']);
    assert.deepEqual(cells(r.stdout, '_sync_v'), ['_sync_v', '41']);
  });

  test('a stale document and a missing Redis entry are visible, not hidden', () => {
    const r = show(['customers', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(cells(r.stdout, 'name'), ['name', 'Bob', 'Robert']);
    assert.match(r.stdout, new RegExp(`Redis key ${database}:customers:2: no entry`));
  });

  test('a composite key takes one value per key column, in key order', () => {
    const r = show(['order_lines', '7', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const shown = JSON.parse(r.stdout) as {
      mysql: Record<string, unknown>;
      mongodb: { document: Record<string, unknown> };
      redis: { key: string; entry: Record<string, string> };
    };
    assert.equal(shown.mysql.qty, 30);
    assert.equal(shown.mongodb.document.qty, 30);
    assert.equal(shown.redis.key, `${database}:order_lines:7:2`);
    assert.equal(shown.redis.entry.qty, '30');
  });

  test('wrong input is refused with what to type instead', () => {
    const unknown = show(['custmers', '1']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /custmers is not a captured table of .*; captured: .*customers/);
    const tooFew = show(['order_lines', '7']);
    assert.equal(tooFew.code, 1);
    assert.match(
      tooFew.stderr,
      /order_lines has a primary key of 2 columns \(order_id, line\).*show order_lines <order_id> <line>/,
    );
    const missing = show(['customers', '404']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no row of .*customers with id = 404 in MySQL, MongoDB or Redis/);
  });

  test('a row MySQL no longer has but a sink still holds is shown, and the exit code says so', () => {
    const r = show(['customers', '9']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /MySQL .*customers: no such row/);
    assert.deepEqual(cells(r.stdout, 'name'), ['name', 'Ghost']);
    assert.match(r.stderr, /MySQL has no such row, but a sink still holds it/);
  });

  test('every command the demo prints at the end runs on the machine the demo set up', () => {
    const hints = demoHints({
      stateDir: stack.stateDir,
      database,
      mysqlUrl: stack.mysqlUrl,
      redisUrl: stack.redisUrl,
    });
    assert.ok(!hints.some((h) => /mongosh/.test(h.command)), 'no hint needs a tool nothing installs');
    for (const hint of hints) {
      // Long-running or stack-stopping hints are only asked for their help: the command exists
      // with these options (the stack is shared by the whole test run).
      const lasting = / run |stack down/.test(hint.command);
      const r = spawnSync('sh', ['-c', lasting ? `${hint.command} --help` : hint.command], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `${hint.command}\n${r.stdout}${r.stderr}`);
      if (!lasting) assert.match(r.stdout, /Ada/, `${hint.command} shows customer 1:\n${r.stdout}`);
    }
  });
});
