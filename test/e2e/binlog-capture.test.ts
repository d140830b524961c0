/**
 * The pipeline with `source.capture: binlog`, as a user runs it: no trigger on any application
 * table, the snapshot and a concurrent workload through the binary log, DDL and TRUNCATE while
 * writers run, and a running trigger installation switched over to binlog capture. Each ends with
 * `verify --wait` finding MySQL, MongoDB and Redis equal.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { connect } from '../../src/mysql/connect.ts';
import { createDemoSchema, seedDemo } from '../../src/mysql/demo/seed.ts';
import { runWorkload } from '../../src/mysql/demo/workload.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { cliArgs } from '../support/cli.ts';
import {
  dropPipeline,
  startRun,
  verifyPipeline,
  writeDefaultConfig,
  type PipelineFiles,
  type RunningPipeline,
} from '../support/pipeline.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

async function seeded(stack: TestStack, prefix: string, rows: number): Promise<string> {
  const database = uniqueName(prefix);
  const conn = await connect({ url: stack.mysqlUrl });
  try {
    await createDemoSchema(conn, database, { reset: true });
    await seedDemo(conn, database, rows, 11);
  } finally {
    await conn.end();
  }
  return database;
}

async function syncTriggers(conn: Connection, database: string): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    "SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME LIKE '%syncline%'",
    [database],
  );
  return rows.map((r) => String(r.name));
}

function workload(stack: TestStack, database: string, seconds: number, seed: number) {
  return runWorkload({
    target: { url: stack.mysqlUrl },
    database,
    ratePerSecond: 200,
    connections: 4,
    durationMs: seconds * 1000,
    seed,
  });
}

function assertInSync(files: PipelineFiles, what: string, run?: RunningPipeline): void {
  const v = verifyPipeline(files, true);
  for (const line of v.lines) console.log(`# ${what}: ${line}`);
  assert.equal(
    v.code,
    0,
    `${what}: verify failed\n${v.stderr}\n${v.lines.join('\n')}${run ? `\nrun's output:\n${run.tail()}` : ''}`,
  );
  assert.equal(v.inSync, true, what);
}

function status(files: PipelineFiles): Record<string, unknown> {
  const r = spawnSync(process.execPath, cliArgs(files.configFile, files.stateDir, ['status', '--json']), {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('binlog capture end to end', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  test('snapshot while 4 writers change the tables, DDL and TRUNCATE while they write: verify --wait finds MySQL, MongoDB and Redis equal, and no syncline trigger exists', async () => {
    const stack = await getStack();
    const database = await seeded(stack, 'e2e_binlog', 3000);
    const files = writeDefaultConfig(stack, database, 'bl', 'binlog');
    const run: RunningPipeline = startRun(files);
    // Cleaned up in reverse: `run` stops before its database is dropped.
    cleanup.push(
      () => dropPipeline(files),
      () => run.stop(),
    );
    await run.started();

    const work = await workload(stack, database, 15, 5);
    assert.ok(work.transactions > 500, 'the writers really wrote');
    assertInSync(files, 'after the snapshot and the workload');

    const s = status(files) as { binlog?: { position: unknown; bytesBehind: number | null } };
    assert.ok(s.binlog?.position, `status shows the reader's binlog position: ${JSON.stringify(s.binlog)}`);
    assert.equal(typeof s.binlog?.bytesBehind, 'number');

    // Schema changes with no trigger to swap, so no write fails; `run` reloads the altered table
    // (the ALTER rewrote its rows without row events) and restarts the Spark job.
    const admin = await connect({ url: stack.mysqlUrl, database });
    cleanup.push(() => admin.end());
    const writers = workload(stack, database, 40, 6);
    const followed = () => run.count(/run: schema change on/);
    const reloaded = (table: string) => run.count(new RegExp(`run: snapshot ${table}: \\d+ rows`));
    const waitFor = async (done: () => boolean, ms: number): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    };
    /**
     * Each change is noticed by `run` (Spark job restart, reload) and its reload finished before
     * the next one: the next change's minute must not be spent on the previous one's restart.
     */
    const alter = async (sql: string, then: string, table: string): Promise<void> => {
      const before = followed();
      const loads = reloaded(table);
      await admin.query(sql);
      await admin.query(then);
      await waitFor(() => followed() > before, 60_000);
      assert.ok(followed() > before, `run noticed: ${sql}\n${run.tail()}`);
      await waitFor(() => reloaded(table) > loads, 120_000);
      assert.ok(reloaded(table) > loads, `run reloaded ${table} after: ${sql}\n${run.tail()}`);
    };
    await new Promise((r) => setTimeout(r, 1500));
    await alter(
      'ALTER TABLE customers ADD COLUMN nickname VARCHAR(40) NULL',
      "UPDATE customers SET nickname = CONCAT('n', id) WHERE id % 7 = 0",
      'customers',
    );
    await alter(
      'ALTER TABLE customers RENAME COLUMN nickname TO alias',
      "UPDATE customers SET alias = CONCAT('a', id) WHERE id % 5 = 0",
      'customers',
    );
    await alter(
      'ALTER TABLE products DROP COLUMN description',
      'UPDATE products SET stock = stock + 1 WHERE id < 20',
      'products',
    );
    const during = await writers;
    // Deadlocks between the writers themselves are possible; a write refused by the DDL is not.
    console.log(`# during DDL: ${during.transactions} transactions, ${during.errors} failed`);
    assert.ok(during.errors <= during.transactions / 100, 'application writes kept working during the DDL');
    // No foreign key points at order_items, so TRUNCATE is allowed on it.
    await admin.query('TRUNCATE TABLE order_items');
    await admin.query(
      `INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price)
       SELECT id, 1, (SELECT MIN(id) FROM products), 1, 1.00 FROM orders ORDER BY id LIMIT 20`,
    );
    assertInSync(files, 'after DDL and TRUNCATE', run);
    assert.deepEqual(await syncTriggers(admin, database), [], 'binlog capture installs no trigger');
  });

  test('a running trigger installation switched to binlog capture, with changes left in the changelog, ends with MySQL, MongoDB and Redis equal and the triggers gone', async () => {
    const stack = await getStack();
    const database = await seeded(stack, 'e2e_switch', 2000);
    const files = writeDefaultConfig(stack, database, 'sw', 'trigger');
    let run = startRun(files);
    cleanup.push(() => dropPipeline(files));
    await run.started();
    await workload(stack, database, 8, 7);
    assertInSync(files, 'trigger capture');
    await run.stop();

    // The triggers stay installed while nothing drains the changelog: these changes wait there.
    await workload(stack, database, 4, 8);
    const admin = await connect({ url: stack.mysqlUrl, database });
    cleanup.push(() => admin.end());
    const [left] = await admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM _syncline_changelog');
    assert.ok(Number(left[0]!.n) > 0, 'changes are waiting in the changelog at the switch');

    writeFileSync(
      files.configFile,
      readFileSync(files.configFile, 'utf8').replace('capture: trigger', 'capture: binlog'),
    );
    run = startRun(files);
    cleanup.push(() => run.stop());
    await run.started();
    await workload(stack, database, 8, 9);
    assertInSync(files, 'after the switch to binlog capture');
    assert.deepEqual(await syncTriggers(admin, database), [], 'the switch dropped the triggers');
    const [rest] = await admin.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM ${quoteId(database)}._syncline_changelog`,
    );
    assert.equal(Number(rest[0]!.n), 0, 'the changelog was drained at the switch');
  });
});
