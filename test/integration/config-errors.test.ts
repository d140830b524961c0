// What a user sees on the command line for the common configuration mistakes: exit code 1 and a
// message naming the problem, never a stack trace or a secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freshDatabase } from './capture-support.ts';

const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.ts');

function runCli(
  config: unknown,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { code: number | null; stderr: string; stdout: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'syncline-cli-'));
  const file = path.join(dir, 'syncline.yaml');
  writeFileSync(file, typeof config === 'string' ? config : stringify(config));
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', MAIN, '--config', file, '--state-dir', path.join(dir, 'state'), ...args],
    {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 60_000,
    },
  );
  return { code: result.status, stderr: result.stderr, stdout: result.stdout };
}

test('syncline triggers install reports config mistakes and a table without a primary key by name', async () => {
  const fx = await freshDatabase('cfgerr', [
    'CREATE TABLE events_raw (payload TEXT)',
    'CREATE TABLE customers (id INT PRIMARY KEY)',
  ]);
  try {
    const base = {
      source: { url: fx.stack.mysqlUrl, database: fx.database },
      kafka: { brokers: fx.stack.kafkaBrokers },
      sinks: { mongodb: { url: fx.stack.mongoUrl }, redis: { url: fx.stack.redisUrl } },
    };

    const unknown = runCli({ ...base, kafka: { ...base.kafka, partiton: 3 } }, ['triggers', 'install']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /kafka\.partiton: unknown key/);

    const wrongType = runCli({ ...base, source: { ...base.source, tables: { customers: true } } }, [
      'triggers',
      'install',
    ]);
    assert.equal(wrongType.code, 1);
    assert.match(wrongType.stderr, /source\.tables: a list of table names, or "\*" for every table/);

    const secret = runCli(
      { ...base, source: { ...base.source, password: '${SYNCLINE_TEST_UNSET_PW}' } },
      ['triggers', 'install'],
      { SYNCLINE_TEST_UNSET_PW: '' },
    );
    assert.equal(secret.code, 1);
    assert.match(secret.stderr, /source\.password: environment variable SYNCLINE_TEST_UNSET_PW is not set/);

    const noKey = runCli(base, ['triggers', 'install']);
    assert.equal(noKey.code, 1);
    assert.match(
      noKey.stderr,
      new RegExp(`table ${fx.database}\\.events_raw has no primary key.*ADD PRIMARY KEY`),
    );
    for (const r of [unknown, wrongType, secret, noKey])
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'a stack trace was printed');

    const ok = runCli({ ...base, source: { ...base.source, tables: ['customers'] } }, [
      'triggers',
      'install',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /customers\s+created/);
    const status = runCli({ ...base, source: { ...base.source, tables: ['customers'] } }, [
      'triggers',
      'status',
    ]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /customers\s+yes\s+no/);
  } finally {
    await fx.close();
  }
});
