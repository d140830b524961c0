/**
 * `syncline doctor` names what is wrong and how to fix it; and a recognisable password, used by a
 * least-privilege MySQL user, never appears in any command's output or in the state folder.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

const CLI = join(PROJECT_ROOT, 'src', 'cli', 'main.ts');

function cli(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status ?? 1, out: `${r.stdout}\n${r.stderr}` };
}

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(filesUnder(path));
    else out.push(path);
  }
  return out;
}

describe('doctor and secrets', () => {
  let stack: TestStack;
  let database: string;
  let user: string;
  let dir: string;
  const secret = `Pw-${randomBytes(9).toString('hex')}-Zq`;

  before(async () => {
    stack = await getStack();
    database = uniqueName('secrets');
    user = uniqueName('u').slice(0, 30);
    dir = mkdtempSync(join(tmpdir(), 'syncline-secrets-'));
    const root = await connect({ url: stack.mysqlUrl });
    try {
      await root.query(`CREATE DATABASE ${quoteId(database)}`);
      await root.query(`CREATE TABLE ${quoteId(database)}.items (id INT PRIMARY KEY, name VARCHAR(40))`);
      await root.query(`INSERT INTO ${quoteId(database)}.items VALUES (1, 'a'), (2, 'b')`);
      // The documented least-privilege grant (docs/capture.md, "MySQL privileges").
      await root.query(`CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?`, [user, secret]);
      await root.query(
        `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, TRIGGER, LOCK TABLES ON ${quoteId(database)}.* TO ?@'127.0.0.1'`,
        [user],
      );
    } finally {
      await root.end();
    }
    const port = new URL(stack.mysqlUrl).port;
    writeFileSync(
      join(dir, 'syncline.yaml'),
      `source:\n  url: mysql://${user}@127.0.0.1:${port}\n  password: \${SYNCLINE_TEST_MYSQL_PASSWORD}\n  database: ${database}\nkafka:\n  brokers: [${stack.kafkaBrokers.join(',')}]\n  topicPrefix: ${uniqueName('sec')}\nsinks:\n  mongodb: { url: "${stack.mongoUrl}" }\n  redis: { url: "${stack.redisUrl}" }\n`,
    );
  });

  after(async () => {
    const root = await connect({ url: stack.mysqlUrl });
    await root.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`).catch(() => undefined);
    await root.query(`DROP USER IF EXISTS ?@'127.0.0.1'`, [user]).catch(() => undefined);
    await root.end();
  });

  test('doctor passes for a least-privilege user and names the trigger state to fix', () => {
    const r = cli(['--config', join(dir, 'syncline.yaml'), '--state-dir', join(dir, 'state'), 'doctor'], {
      SYNCLINE_TEST_MYSQL_PASSWORD: secret,
    });
    assert.equal(r.code, 0, r.out);
    assert.match(
      r.out,
      /ok\s+source privileges: SELECT, INSERT, UPDATE, DELETE, CREATE, TRIGGER, LOCK TABLES/,
    );
    assert.match(r.out, /WARN\s+source triggers: not installed: items\n\s+fix: `syncline triggers install`/);
    // Without PROCESS the relay cannot notice TRUNCATE: a warning with the grant, not a failure.
    assert.match(
      r.out,
      /WARN\s+source truncate capture: the user lacks PROCESS[^\n]*\n\s+fix: GRANT PROCESS ON \*\.\*/,
    );
    assert.match(r.out, /ok\s+kafka reachable/);
  });

  test('doctor fails on an unreachable Kafka and a wrong password, naming the setting to fix', () => {
    const badKafka = join(dir, 'bad-kafka.yaml');
    writeFileSync(
      badKafka,
      readFileSync(join(dir, 'syncline.yaml'), 'utf8').replace(
        /brokers: \[[^\]]+\]/,
        'brokers: [127.0.0.1:1]',
      ),
    );
    const r = cli(['--config', badKafka, '--state-dir', join(dir, 'state'), 'doctor'], {
      SYNCLINE_TEST_MYSQL_PASSWORD: `${secret}-wrong`,
    });
    assert.equal(r.code, 1);
    assert.match(r.out, /FAIL\s+source reachable: .*Access denied/);
    assert.match(r.out, /fix: check source\.url/);
    assert.match(r.out, /FAIL\s+kafka reachable: 127\.0\.0\.1:1/);
    assert.match(r.out, /fix: check kafka\.brokers/);
    assert.ok(!r.out.includes(secret), 'the password (right or wrong) is never printed');
  });

  test('the password appears in no output of config check, triggers, snapshot, verify, status, and in no file of the state folder', () => {
    const state = join(dir, 'state');
    const base = ['--config', join(dir, 'syncline.yaml'), '--state-dir', state];
    const env = { SYNCLINE_TEST_MYSQL_PASSWORD: secret };
    const outputs = [
      cli([...base, 'config', 'check'], env),
      cli([...base, 'triggers', 'install'], env),
      cli([...base, 'triggers', 'status'], env),
      cli([...base, 'snapshot'], env),
      cli([...base, 'status', '--json'], env),
      cli([...base, 'verify'], env),
      // A failing command prints its error; the wrong password must not leak either.
      cli([...base, 'verify'], { SYNCLINE_TEST_MYSQL_PASSWORD: `${secret}x` }),
    ];
    assert.equal(outputs[1]!.code, 0, outputs[1]!.out);
    assert.equal(outputs[3]!.code, 0, outputs[3]!.out);
    assert.notEqual(outputs[6]!.code, 0);
    for (const [i, o] of outputs.entries())
      assert.ok(!o.out.includes(secret), `command #${i} printed the password:\n${o.out}`);
    for (const file of filesUnder(dir)) {
      if (file.endsWith('syncline.yaml')) continue;
      assert.ok(!readFileSync(file, 'utf8').includes(secret), `${file} contains the password`);
    }
  });

  test('a user without LOCK TABLES: doctor names it with the GRANT to run, and triggers install refuses with it, installing nothing', async () => {
    const weak = uniqueName('w');
    const root = await connect({ url: stack.mysqlUrl });
    try {
      await root.query(`CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?`, [weak, secret]);
      await root.query(
        `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, TRIGGER ON ${quoteId(database)}.* TO ?@'127.0.0.1'`,
        [weak],
      );
      await root.query(`CREATE TABLE ${quoteId(database)}.others (id INT PRIMARY KEY)`);
      const config = join(dir, 'weak.yaml');
      writeFileSync(
        config,
        readFileSync(join(dir, 'syncline.yaml'), 'utf8')
          .replace(`mysql://${user}@`, `mysql://${weak}@`)
          .replace(`database: ${database}`, `database: ${database}\n  tables: [others]`),
      );
      const base = ['--config', config, '--state-dir', join(dir, 'state-weak')];
      const env = { SYNCLINE_TEST_MYSQL_PASSWORD: secret };
      const doctor = cli([...base, 'doctor'], env);
      assert.equal(doctor.code, 1, doctor.out);
      assert.match(doctor.out, /FAIL\s+source privileges: missing LOCK TABLES/);
      assert.match(
        doctor.out,
        /fix: GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, TRIGGER, LOCK TABLES ON `secrets_/,
      );
      const install = cli([...base, 'triggers', 'install'], env);
      assert.notEqual(install.code, 0);
      assert.match(
        install.out,
        /\[SYNCLINE_MYSQL_PRIVILEGES\] MySQL: the user may not lock .*others.*Nothing was changed; needed: GRANT .*LOCK TABLES ON `secrets_/s,
      );
      const [triggers] = await root.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?',
        [database, 'others'],
      );
      assert.equal(Number(triggers[0]!.n), 0, 'no trigger was installed');
      assert.ok(!doctor.out.includes(secret) && !install.out.includes(secret));
    } finally {
      await root.query(`DROP USER IF EXISTS ?@'127.0.0.1'`, [weak]).catch(() => undefined);
      await root.end();
    }
  });
});
