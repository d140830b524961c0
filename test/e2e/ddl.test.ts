/**
 * DDL while capturing: ADD, RENAME, MODIFY and DROP COLUMN and a new table, with writers running
 * throughout. `run` notices each change, regenerates the triggers, restarts the Spark job with the
 * new shape and reloads the table; afterwards verify finds MySQL and both sinks equal.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import { connect, createPool } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { getStack, uniqueName } from '../support/stack.ts';

const CLI = join(PROJECT_ROOT, 'src', 'cli', 'main.ts');

test('ALTER TABLE ADD/RENAME/MODIFY/DROP COLUMN and CREATE TABLE while writers run: the sinks follow, verify finds no difference', async () => {
  const stack = await getStack();
  const database = uniqueName('e2e_ddl');
  const dir = mkdtempSync(join(tmpdir(), 'syncline-ddl-'));
  const configFile = join(dir, 'syncline.yaml');
  writeFileSync(
    configFile,
    `source: { url: "${stack.mysqlUrl}", database: ${database}, tables: "*" }
kafka: { brokers: [${stack.kafkaBrokers.join(',')}], topicPrefix: ${uniqueName('ddl')}, partitions: 2 }
spark: { triggerInterval: 500 ms }
sinks: { mongodb: { url: "${stack.mongoUrl}", database: ${database} }, redis: { url: "${stack.redisUrl}" } }
tables:
  notes: { redis: { key: "{db}:{table}:{key}" } }
  extra: { redis: { key: "{db}:{table}:{key}" } }
`,
  );
  const args = (a: string[]) => [
    '--import',
    'tsx',
    CLI,
    '--config',
    configFile,
    '--state-dir',
    join(dir, 'state'),
    ...a,
  ];
  const admin = await connect({ url: stack.mysqlUrl });
  await admin.query(`CREATE DATABASE ${quoteId(database)}`);
  await admin.query(
    `CREATE TABLE ${quoteId(database)}.notes (id INT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40) NULL)`,
  );
  const seed = Array.from({ length: 500 }, (_, i) => `(${i + 1}, ${i}, 'seed')`).join(',');
  await admin.query(`INSERT INTO ${quoteId(database)}.notes (id, a, b) VALUES ${seed}`);

  const run: ChildProcess = spawn(process.execPath, args(['run', '--skip-check', '--metrics-port', '0']), {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let runOut = '';
  run.stdout!.on('data', (c: Buffer) => (runOut += c.toString()));
  run.stderr!.on('data', (c: Buffer) => (runOut += c.toString()));

  // Writers touch only `id` and `a`, which every step keeps.
  const pool = createPool({ url: stack.mysqlUrl, database }, 4);
  let writing = true;
  let writes = 0;
  let failed = 0;
  const writer = async (w: number) => {
    for (let n = 0; writing; n++) {
      const id = 1 + ((n * 7 + w * 131) % 800);
      try {
        await pool.query('INSERT INTO notes (id, a) VALUES (?, ?) ON DUPLICATE KEY UPDATE a = VALUES(a)', [
          id,
          n,
        ]);
        if (n % 13 === 0) await pool.query('DELETE FROM notes WHERE id = ?', [1 + ((id * 3) % 800)]);
        writes++;
      } catch {
        failed++; // a write that meets triggers still naming a renamed/dropped column
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const writers = [0, 1, 2, 3].map(writer);
  const step = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    await step(25_000); // snapshot and first batches
    const ddl = [
      `ALTER TABLE notes ADD COLUMN c INT NOT NULL DEFAULT 7`,
      `ALTER TABLE notes RENAME COLUMN b TO b2`,
      `ALTER TABLE notes MODIFY a BIGINT NOT NULL`,
      `ALTER TABLE notes DROP COLUMN c`,
      `CREATE TABLE extra (k VARCHAR(10) PRIMARY KEY, v JSON)`,
    ];
    const conn = await connect({ url: stack.mysqlUrl, database });
    for (const statement of ddl) {
      await conn.query(statement);
      if (statement.startsWith('CREATE'))
        await conn.query(`INSERT INTO extra VALUES ('x', '{"n": 1}'), ('y', NULL)`);
      await step(12_000);
    }
    await conn.end();
    writing = false;
    await Promise.all(writers);
    console.log(`# DDL test: ${writes} writes, ${failed} failed while triggers named an old column`);
    assert.ok(writes > 1000);

    const verify = spawnSync(process.execPath, args(['verify', '--wait', '400', '--json']), {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 500_000,
    });
    const report = JSON.parse(verify.stdout) as {
      inSync: boolean;
      tables: {
        table: string;
        sinks: { sink: string; checked: number; missing: number; extra: number; different: number }[];
      }[];
    };
    for (const t of report.tables)
      for (const s of t.sinks)
        console.log(
          `# verify ${t.table} ${s.sink}: ${s.checked} rows, ${s.missing} missing, ${s.extra} extra, ${s.different} different`,
        );
    assert.equal(verify.status, 0, `${verify.stderr}\n--- run ---\n${runOut.slice(-3000)}`);
    assert.deepEqual(report.tables.map((t) => t.table).sort(), ['extra', 'notes']);

    // The new shape is what the sinks hold: b2 present, b and c gone.
    const mongo = new MongoClient(stack.mongoUrl);
    await mongo.connect();
    const doc = await mongo.db(database).collection('notes').findOne({});
    await mongo.close();
    assert.ok(doc && 'b2' in doc && !('b' in doc) && !('c' in doc), JSON.stringify(doc));
    assert.match(runOut, /schema change on notes/);
  } finally {
    writing = false;
    await Promise.all(writers).catch(() => undefined);
    await pool.end();
    run.kill('SIGTERM');
    await new Promise((r) => run.once('exit', r));
    await admin.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`);
    await admin.end();
  }
});
