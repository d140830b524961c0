/**
 * A hostile source database and hostile table/column names through the whole pipeline: `run`
 * first refuses names MongoDB cannot hold, naming the settings that map them; with the mapping,
 * the snapshot and live changes (update, key change, delete) reach MongoDB and Redis and `verify`
 * exits 0. Then the Redis key format is checked for key values containing its ':' separator.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { createClient } from 'redis';
import { stringify } from 'yaml';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId, quoteQualified } from '../../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { dropPipeline } from '../support/pipeline.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

const CLI = join(PROJECT_ROOT, 'src', 'cli', 'main.ts');
const TAG = randomBytes(3).toString('hex');
// '.', ' ' and "'" are legal in MySQL database names and illegal in MongoDB's.
const DATABASE = `we'ird.db; DROP TABLE canary; -- ${TAG}`;
const ORDERS = `ord"er\`s ;-- /* ${TAG}`;
const K1 = 'key';
const K2 = 'gr:oup "x"';
const NOTE = "it's \\ a note";
const CJK = `中文 テーブル ${TAG}`;
const CJK_KEY = 'select';
const DOLLAR = `pay$ments ${TAG}`;
const COLLECTION = `payments_${TAG}`;

describe('hostile names through run, the Spark job and verify', () => {
  let stack: TestStack;
  let dir: string;
  let mongoDatabase: string;
  let child: ChildProcess | null = null;
  let output = '';

  const writeConfig = (mapped: boolean): string => {
    const file = join(dir, mapped ? 'mapped.yaml' : 'unmapped.yaml');
    writeFileSync(
      file,
      stringify({
        source: { url: stack.mysqlUrl, database: DATABASE, tables: [ORDERS, CJK, DOLLAR] },
        kafka: {
          brokers: stack.kafkaBrokers,
          topicPrefix: uniqueName('hn'),
          partitions: 2,
          replicationFactor: 1,
        },
        spark: { triggerInterval: '500 ms' },
        sinks: {
          mongodb: { url: stack.mongoUrl, ...(mapped ? { database: mongoDatabase } : {}) },
          redis: { url: stack.redisUrl },
        },
        ...(mapped ? { tables: { [DOLLAR]: { mongodb: { collection: COLLECTION } } } } : {}),
      }),
    );
    return file;
  };
  const cli = (file: string, args: string[], timeoutMs = 400_000) => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', CLI, '--config', file, '--state-dir', join(dir, 'state'), ...args],
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        timeout: timeoutMs,
      },
    );
    return { code: r.status ?? 1, out: `${r.stdout}\n${r.stderr}` };
  };
  const sql = async <T>(fn: (c: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> => {
    const conn = await connect({ url: stack.mysqlUrl });
    try {
      await conn.query(`USE ${quoteId(DATABASE)}`);
      return await fn(conn);
    } finally {
      await conn.end();
    }
  };

  before(async () => {
    stack = await getStack();
    dir = mkdtempSync(join(tmpdir(), 'syncline-hostile-'));
    mongoDatabase = uniqueName('hostile');
    const conn = await connect({ url: stack.mysqlUrl });
    try {
      await conn.query(`CREATE DATABASE ${quoteId(DATABASE)} CHARACTER SET utf8mb4`);
      await conn.query(`USE ${quoteId(DATABASE)}`);
      await conn.query('CREATE TABLE canary (id INT PRIMARY KEY)');
      await conn.query(
        `CREATE TABLE ${quoteId(ORDERS)} (${quoteId(K1)} INT NOT NULL, ${quoteId(K2)} VARCHAR(40) NOT NULL, ${quoteId(NOTE)} VARCHAR(100) NULL, PRIMARY KEY (${quoteId(K1)}, ${quoteId(K2)}))`,
      );
      await conn.query(
        `CREATE TABLE ${quoteId(CJK)} (${quoteId(CJK_KEY)} VARCHAR(40) PRIMARY KEY, ${quoteId('naïve ✓')} INT NULL)`,
      );
      await conn.query(`CREATE TABLE ${quoteId(DOLLAR)} (id INT PRIMARY KEY, amount DECIMAL(10,2))`);
      await conn.query(
        `INSERT INTO ${quoteId(ORDERS)} VALUES (1, 'a', 'x'), (2, 'b:c', 'y'), (3, '{tag}', NULL)`,
      );
      await conn.query(
        `INSERT INTO ${quoteId(CJK)} VALUES ('α', 1), ('host:port', 2), ('; DROP TABLE canary', 3)`,
      );
      await conn.query(`INSERT INTO ${quoteId(DOLLAR)} VALUES (1, 9.99), (2, 0.01)`);
    } finally {
      await conn.end();
    }
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    // The mapped config is the one that ran; the unmapped one was refused before anything was made.
    const mapped = join(dir, 'mapped.yaml');
    if (existsSync(mapped)) await dropPipeline({ configFile: mapped, stateDir: join(dir, 'state') });
    const conn = await connect({ url: stack.mysqlUrl });
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(DATABASE)}`).catch(() => undefined);
    await conn.end();
  });

  test('run refuses source names MongoDB cannot hold, naming sinks.mongodb.database and the collection setting, before installing anything', async () => {
    const r = cli(writeConfig(false), ['run', '--skip-check', '--metrics-port', '0']);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /\[SYNCLINE_MONGODB_NAME\]/);
    assert.match(
      r.out,
      /MongoDB database name .*contains "\.", " ".*set sinks\.mongodb\.database to a legal name/,
    );
    assert.match(
      r.out,
      /collection name "pay\$ments [0-9a-f]+" contains "\$".*set tables\."pay\$ments [0-9a-f]+"\.mongodb\.collection/,
    );
    const triggers = await sql(async (c) => {
      const [rows] = await c.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?',
        [DATABASE],
      );
      return Number(rows[0]!.n);
    });
    assert.equal(triggers, 0, 'no triggers installed by a run that cannot deliver');
  });

  test('with the names mapped, snapshot and live changes reach MongoDB and Redis and verify exits 0', async () => {
    const file = writeConfig(true);
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        CLI,
        '--config',
        file,
        '--state-dir',
        join(dir, 'state'),
        'run',
        '--skip-check',
        '--metrics-port',
        '0',
      ],
      {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
    child.stderr!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
    const deadline = Date.now() + 180_000;
    while (!/run: relay and Spark job started/.test(output)) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `run did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await sql(async (c) => {
      const o = quoteId(ORDERS);
      await c.query(`INSERT INTO ${o} VALUES (4, 'd:e:f', 'new')`);
      await c.query(`UPDATE ${o} SET ${quoteId(NOTE)} = 'changed \\' ok' WHERE ${quoteId(K1)} = 1`);
      await c.query(`UPDATE ${o} SET ${quoteId(K1)} = 20 WHERE ${quoteId(K1)} = 2`);
      await c.query(`DELETE FROM ${o} WHERE ${quoteId(K1)} = 3`);
      await c.query(`UPDATE ${quoteId(CJK)} SET ${quoteId(CJK_KEY)} = 'β:γ' WHERE ${quoteId(CJK_KEY)} = 'α'`);
      await c.query(`DELETE FROM ${quoteId(DOLLAR)} WHERE id = 2`);
    });
    const v = cli(file, ['verify', '--wait', '300', '--json']);
    assert.equal(v.code, 0, `verify:\n${v.out}\nrun:\n${output}`);
    const report = JSON.parse(v.out.slice(v.out.indexOf('{'), v.out.lastIndexOf('}') + 1)) as {
      inSync: boolean;
      tables: { table: string; rows: number }[];
    };
    assert.equal(report.inSync, true);
    assert.deepEqual(
      report.tables.map((t) => [t.table, t.rows]).sort(),
      [
        [CJK, 3],
        [DOLLAR, 1],
        [ORDERS, 3],
      ].sort(),
    );
    const canary = await sql(
      async (c) =>
        (
          await c.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${quoteQualified(DATABASE, 'canary')}`)
        )[0],
    );
    assert.equal(Number(canary[0]!.n), 0, 'canary table intact (empty, as created)');
  });

  test("a Redis key can be split back into its key values when they contain ':'", async () => {
    const redis = createClient({ url: stack.redisUrl });
    await redis.connect();
    try {
      const keys: string[] = [];
      // The default key is {db}:{table}:{key}.
      const prefix = `${DATABASE}:${ORDERS}:`;
      for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 }))
        keys.push(...(batch as string[]));
      assert.equal(keys.length, 3, keys.join('\n'));
      const ambiguous = keys.filter((k) => k.slice(prefix.length).split(':').length !== 2);
      assert.deepEqual(ambiguous, [], 'keys of a two-column primary key that do not split into two values');
    } finally {
      await redis.close();
    }
  });
});
