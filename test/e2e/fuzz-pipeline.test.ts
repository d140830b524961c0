/**
 * The capture fuzz workload (test/support/capture-workload.ts: every DML form, IGNORE variants,
 * REPLACE, ODKU, multi-table statements, key moves, cascades over three levels, TRUNCATE,
 * savepoints, rollbacks, 4 connections) through the whole pipeline as a user runs it: `syncline
 * run`, then `verify --wait` must find MySQL, MongoDB and Redis equal.
 *
 *   SYNCLINE_FUZZ_SEED=<n>          replay one run (the seed is printed)
 *   SYNCLINE_FUZZ_TRANSACTIONS=<n>  transactions (default 1,500)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import { connect, createPool } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { WORKLOAD_DDL, runWorkload } from '../support/capture-workload.ts';
import { cliArgs } from '../support/cli.ts';
import { getStack, uniqueName } from '../support/stack.ts';

const SEED = Number(process.env.SYNCLINE_FUZZ_SEED ?? Math.floor(Math.random() * 1_000_000));
const TRANSACTIONS = Number(process.env.SYNCLINE_FUZZ_TRANSACTIONS ?? 1500);

test('the capture fuzz workload through run: verify finds MySQL, MongoDB and Redis equal', async () => {
  const stack = await getStack();
  const database = uniqueName('fuzz_e2e');
  const conn = await connect({ url: stack.mysqlUrl });
  await conn.query(`CREATE DATABASE ${quoteId(database)} CHARACTER SET utf8mb4`);
  await conn.query(`USE ${quoteId(database)}`);
  for (const ddl of WORKLOAD_DDL) await conn.query(ddl);
  const dir = mkdtempSync(join(tmpdir(), 'syncline-fuzz-e2e-'));
  const configFile = join(dir, 'syncline.yaml');
  const stateDir = join(dir, 'state');
  writeFileSync(
    configFile,
    `source:
  url: ${stack.mysqlUrl}
  database: ${database}
kafka:
  brokers: [${stack.kafkaBrokers.join(', ')}]
  topicPrefix: ${uniqueName('fz')}
  partitions: 2
spark:
  triggerInterval: 500 ms
sinks:
  mongodb:
    url: ${stack.mongoUrl}
  redis:
    url: ${stack.redisUrl}
`,
  );
  console.log(`# fuzz-pipeline seed ${SEED} (replay: SYNCLINE_FUZZ_SEED=${SEED})`);
  const run = spawn(process.execPath, cliArgs(configFile, stateDir, ['run', '--skip-check']), {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => run.once('exit', r));
  let tail = '';
  const keep = (c: Buffer): void => {
    tail = (tail + c.toString()).slice(-6000);
  };
  run.stdout!.on('data', keep);
  run.stderr!.on('data', keep);
  const pool = createPool({ url: stack.mysqlUrl, database }, 4);
  try {
    const stats = await runWorkload({
      pool,
      connections: 4,
      transactions: TRANSACTIONS,
      seed: SEED,
      truncate: true,
    });
    console.log(
      `# workload: ${stats.transactions} transactions (${stats.commits} committed, ${stats.rollbacks} rolled back, ${stats.savepointRollbacks} savepoint rollbacks), ${stats.statements} statements (${stats.statementErrors} refused), ${stats.truncates} truncates, ${stats.deadlocks} deadlocks`,
    );
    const v = spawnSync(
      process.execPath,
      cliArgs(configFile, stateDir, ['verify', '--wait', '300', '--json']),
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        timeout: 400_000,
      },
    );
    const report = JSON.parse(v.stdout || '{}') as {
      inSync?: boolean;
      tables?: {
        table: string;
        rows: number;
        sinks: { sink: string; missing: number; extra: number; different: number; examples: unknown[] }[];
      }[];
    };
    const lines = (report.tables ?? []).flatMap((t) =>
      t.sinks.map(
        (s) =>
          `${t.table}/${s.sink}: ${t.rows} rows, ${s.missing} missing, ${s.extra} extra, ${s.different} different ${s.examples.length ? JSON.stringify(s.examples.slice(0, 3)) : ''}`,
      ),
    );
    for (const l of lines) console.log(`# verify ${l}`);
    if (v.status !== 0)
      console.log(`# seed ${SEED}; run's last output:\n${tail}\n# verify stderr:\n${v.stderr}`);
    assert.equal(v.status, 0, `verify exit code (seed ${SEED})`);
    assert.equal(report.inSync, true);
  } finally {
    await pool.end();
    if (run.exitCode === null && run.signalCode === null) run.kill('SIGTERM');
    await exited;
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`).catch(() => undefined);
    await conn.end();
    const mongo = new MongoClient(stack.mongoUrl);
    await mongo.connect();
    await mongo
      .db(database)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
  }
});
