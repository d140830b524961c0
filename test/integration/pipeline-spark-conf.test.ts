// `spark.conf` in syncline.yaml is the user's way to tune Spark (executor memory, UI port, shuffle
// settings on a cluster); it must reach the job description the Spark job reads, not be dropped
// on the way (it was, until the cluster work found it).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { resolvePipeline } from '../../src/pipeline/job.ts';
import { getStack, uniqueName } from '../support/stack.ts';

test('spark.conf of syncline.yaml reaches the Spark job description unchanged', async () => {
  const stack = await getStack();
  const conn = await connect({ url: stack.mysqlUrl });
  const db = uniqueName('spark_conf');
  const dir = mkdtempSync(join(tmpdir(), 'syncline-spark-conf-'));
  try {
    await conn.query(`CREATE DATABASE ${quoteId(db)}`);
    await conn.query(`CREATE TABLE ${quoteId(db)}.t (id INT PRIMARY KEY, v INT)`);
    const file = join(dir, 'syncline.yaml');
    writeFileSync(
      file,
      [
        `source: { database: ${db}, tables: "*" }`,
        'spark:',
        '  conf:',
        '    spark.ui.port: "4555"',
        '    spark.executor.memory: 3g',
        '',
      ].join('\n'),
    );
    const config = loadConfig({ configPath: file, stateDir: stack.stateDir });
    const { job } = await resolvePipeline(config, conn, { createIdentity: true });
    assert.deepEqual(job.conf, { 'spark.ui.port': '4555', 'spark.executor.memory': '3g' });
  } finally {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(db)}`);
    await conn.end();
    rmSync(dir, { recursive: true, force: true });
  }
});
