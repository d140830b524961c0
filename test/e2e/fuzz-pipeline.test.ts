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
import { test } from 'node:test';
import { connect, createPool } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { WORKLOAD_DDL, runWorkload } from '../support/capture-workload.ts';
import { dropPipeline, startRun, verifyPipeline, writeDefaultConfig } from '../support/pipeline.ts';
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
  await conn.end();
  const files = writeDefaultConfig(stack, database, 'fz');
  console.log(`# fuzz-pipeline seed ${SEED} (replay: SYNCLINE_FUZZ_SEED=${SEED})`);
  const run = startRun(files);
  const pool = createPool({ url: stack.mysqlUrl, database }, 4);
  try {
    await run.started();
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
    const v = verifyPipeline(files, true);
    for (const l of v.lines) console.log(`# verify ${l}`);
    if (v.code !== 0)
      console.log(`# seed ${SEED}; run's last output:\n${run.tail()}\n# verify stderr:\n${v.stderr}`);
    assert.equal(v.code, 0, `verify exit code (seed ${SEED})`);
    assert.equal(v.inSync, true);
  } finally {
    await pool.end();
    await run.stop();
    await dropPipeline(files);
  }
});
