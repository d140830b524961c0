// What the real CLI does when a service is down or misconfigured: it names the service and the
// setting and says what to do; it waits with backoff where waiting can help (a service still
// starting) and fails at once where it cannot (a wrong password); it never prints the password;
// and `run` changes nothing on the source (no triggers, no changelog, no topics) until every
// service answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { stringify } from 'yaml';
import { Admin } from '@platformatic/kafka';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { Supervisor } from '../../src/pipeline/supervisor.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';
import { closedPort } from '../support/ports.ts';

const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
const SECRET = `Pw-${randomBytes(8).toString('hex')}-Qz`;
const PASSWORD_ENV = 'SYNCLINE_TEST_MISCONF_PASSWORD';

let stack: TestStack;
let database: string;
let user: string;
let prefix: string;

function withPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString().replace(/\/$/, '');
}

interface Settings {
  mysqlUrl?: string;
  brokers?: string[];
  mongoUrl?: string;
  redisUrl?: string;
  password?: boolean;
}

function writeConfig(s: Settings = {}): { file: string; state: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'syncline-misconf-'));
  const port = new URL(stack.mysqlUrl).port;
  const file = path.join(dir, 'syncline.yaml');
  writeFileSync(
    file,
    stringify({
      source: {
        url: s.mysqlUrl ?? `mysql://${user}@127.0.0.1:${port}`,
        password: `\${${PASSWORD_ENV}}`,
        database,
      },
      kafka: { brokers: s.brokers ?? stack.kafkaBrokers, topicPrefix: prefix, replicationFactor: 1 },
      sinks: { mongodb: { url: s.mongoUrl ?? stack.mongoUrl }, redis: { url: s.redisUrl ?? stack.redisUrl } },
    }),
  );
  return { file, state: path.join(dir, 'state') };
}

interface CliResult {
  code: number | null;
  out: string;
  ms: number;
}

function cli(
  cfg: { file: string; state: string },
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
): CliResult {
  const started = Date.now();
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', MAIN, '--config', cfg.file, '--state-dir', cfg.state, ...args],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, [PASSWORD_ENV]: SECRET, SYNCLINE_WAIT_FOR_SERVICES_SECONDS: '3', ...env },
    },
  );
  return { code: r.status, out: `${r.stdout}\n${r.stderr}`, ms: Date.now() - started };
}

async function sourceState(): Promise<{ triggers: number; tables: string[] }> {
  const conn = await connect({ url: stack.mysqlUrl });
  try {
    const [t] = await conn.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?',
      [database],
    );
    const [tables] = await conn.query<RowDataPacket[]>(
      'SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1',
      [database],
    );
    return { triggers: Number(t[0]!.n), tables: tables.map((r) => String(r.n)) };
  } finally {
    await conn.end();
  }
}

async function ourTopics(): Promise<string[]> {
  const admin = new Admin({ clientId: 'misconf-test', bootstrapBrokers: stack.kafkaBrokers });
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
  } finally {
    await admin.close();
  }
}

function assertClean(r: CliResult): void {
  assert.doesNotMatch(r.out, /\n\s+at /, `a stack trace was printed:\n${r.out}`);
  assert.ok(!r.out.includes(SECRET), `the password was printed:\n${r.out}`);
}

before(async () => {
  stack = await getStack();
  database = uniqueName('misconf');
  user = uniqueName('u').slice(0, 30);
  prefix = uniqueName('mc');
  const root = await connect({ url: stack.mysqlUrl });
  try {
    await root.query(`CREATE DATABASE ${quoteId(database)}`);
    await root.query(`CREATE TABLE ${quoteId(database)}.items (id INT PRIMARY KEY, name VARCHAR(40))`);
    await root.query(`INSERT INTO ${quoteId(database)}.items VALUES (1, 'a'), (2, 'b')`);
    await root.query(`CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?`, [user, SECRET]);
    await root.query(`GRANT ALL PRIVILEGES ON ${quoteId(database)}.* TO ?@'127.0.0.1'`, [user]);
  } finally {
    await root.end();
  }
});

after(async () => {
  const root = await connect({ url: stack.mysqlUrl });
  await root.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`).catch(() => undefined);
  await root.query(`DROP USER IF EXISTS ?@'127.0.0.1'`, [user]).catch(() => undefined);
  await root.end();
});

test('a wrong MySQL port: run waits with backoff then names source.url; snapshot and verify name it at once', async () => {
  const cfg = writeConfig({ mysqlUrl: withPort(`mysql://${'u'}@127.0.0.1`, await closedPort()) });
  const run = cli(cfg, ['run', '--skip-check', '--metrics-port', '0']);
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /run: waiting for MySQL: .*connection refused.* Retrying in \d/);
  assert.match(
    run.out,
    /\[SYNCLINE_MYSQL_UNREACHABLE\] MySQL: cannot connect to 127\.0\.0\.1:\d+: connection refused.*gave up after waiting 3 s.*\(setting: source\.url\)\. To fix: check the host and port in source\.url/,
  );
  assertClean(run);
  for (const command of [['snapshot'], ['verify']]) {
    const r = cli(cfg, command);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /\[SYNCLINE_MYSQL_UNREACHABLE\].*\(setting: source\.url\)/);
    assertClean(r);
  }
});

test('a wrong MySQL password fails run, snapshot, verify and doctor at once, naming source.password and never printing it', () => {
  const cfg = writeConfig();
  const wrong = { [PASSWORD_ENV]: `${SECRET}-wrong` };
  // A long wait proves that run does not wait for a problem waiting cannot fix.
  const run = cli(cfg, ['run', '--skip-check', '--metrics-port', '0'], {
    ...wrong,
    SYNCLINE_WAIT_FOR_SERVICES_SECONDS: '600',
  });
  assert.equal(run.code, 1, run.out);
  assert.match(
    run.out,
    /\[SYNCLINE_MYSQL_AUTH\] MySQL: login refused by 127\.0\.0\.1:\d+: Access denied.*\(setting: source\.password\)/,
  );
  assert.doesNotMatch(run.out, /waiting for MySQL/);
  assert.ok(run.ms < 60_000, `run took ${run.ms} ms to report a wrong password`);
  assertClean(run);
  for (const command of [['snapshot'], ['verify']]) {
    const r = cli(cfg, command, wrong);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /\[SYNCLINE_MYSQL_AUTH\].*source\.password/);
    assertClean(r);
  }
  const doctor = cli(cfg, ['doctor'], wrong);
  assert.equal(doctor.code, 1, doctor.out);
  assert.match(doctor.out, /FAIL\s+source reachable: .*SYNCLINE_MYSQL_AUTH/);
  assertClean(doctor);
});

for (const sink of [
  {
    name: 'MongoDB',
    code: 'SYNCLINE_MONGODB_UNREACHABLE',
    setting: 'sinks.mongodb.url',
    key: 'mongoUrl' as const,
  },
  { name: 'Redis', code: 'SYNCLINE_REDIS_UNREACHABLE', setting: 'sinks.redis.url', key: 'redisUrl' as const },
]) {
  test(`an unreachable ${sink.name}: run waits with backoff, then names ${sink.setting} and has installed nothing`, async () => {
    const url = withPort(sink.key === 'mongoUrl' ? stack.mongoUrl : stack.redisUrl, await closedPort());
    const cfg = writeConfig({ [sink.key]: url });
    // Longer than one MongoDB probe (4 s server selection), so at least one retry happens.
    const r = cli(cfg, ['run', '--skip-check', '--metrics-port', '0'], {
      SYNCLINE_WAIT_FOR_SERVICES_SECONDS: '10',
    });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`run: waiting for ${sink.name}: .* Retrying in \\d`));
    assert.match(
      r.out,
      new RegExp(
        `\\[${sink.code}\\] ${sink.name}: cannot connect to 127\\.0\\.0\\.1:\\d+: .*gave up after waiting 10 s.*\\(setting: ${sink.setting.replaceAll('.', '\\.')}\\)\\. To fix: `,
      ),
    );
    assertClean(r);
    // No partial writes: triggers would fill a changelog that nobody delivers.
    assert.deepEqual(await sourceState(), { triggers: 0, tables: ['items'] });
    assert.deepEqual(await ourTopics(), []);
  });
}

test('doctor names the setting of an unreachable MongoDB and Redis', async () => {
  const cfg = writeConfig({
    mongoUrl: withPort(stack.mongoUrl, await closedPort()),
    redisUrl: withPort(stack.redisUrl, await closedPort()),
  });
  const r = cli(cfg, ['doctor']);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /FAIL\s+mongodb reachable: .*\n\s+fix: check sinks\.mongodb\.url/);
  assert.match(r.out, /FAIL\s+redis reachable: .*\n\s+fix: check sinks\.redis\.url/);
  assertClean(r);
});

test('Kafka down at start: run waits and logs the backoff, installs nothing meanwhile, and proceeds once Kafka answers', async () => {
  const port = await closedPort();
  const cfg = writeConfig({ brokers: [`127.0.0.1:${port}`] });
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      '--config',
      cfg.file,
      '--state-dir',
      cfg.state,
      'run',
      '--skip-check',
      '--no-snapshot',
      '--metrics-port',
      '0',
    ],
    {
      env: { ...process.env, [PASSWORD_ENV]: SECRET, SYNCLINE_WAIT_FOR_SERVICES_SECONDS: '300' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const waitFor = async (re: RegExp, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!re.test(out)) {
      assert.ok(Date.now() < deadline, `no ${re} within ${ms} ms; output:\n${out}`);
      assert.equal(child.exitCode, null, `run exited early:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  // A TCP relay to the real broker stands in for Kafka coming up on the configured port.
  const [kafkaHost, kafkaPort] = stack.kafkaBrokers[0]!.split(':') as [string, string];
  const proxy = net.createServer((socket) => {
    const upstream = net.connect(Number(kafkaPort), kafkaHost);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  try {
    await waitFor(
      /run: waiting for Kafka: \[SYNCLINE_KAFKA_UNREACHABLE\].*kafka\.brokers.*Retrying in [\d.]+ s \(attempt 2\)/s,
      90_000,
    );
    assert.deepEqual(
      await sourceState(),
      { triggers: 0, tables: ['items'] },
      'nothing installed while Kafka is down',
    );
    await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
    await waitFor(/run: Kafka answers now; continuing/, 60_000);
    await waitFor(/run: relay and Spark job started/, 90_000);
    const state = await sourceState();
    assert.equal(state.triggers, 3, 'triggers installed once every service answered');
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    proxy.close();
    assert.ok(code !== null, `run did not exit on SIGTERM:\n${out}`);
  }
  assert.ok(!out.includes(SECRET));
});

test('a child that keeps dying at once makes the supervisor give up with one message instead of restarting forever', async () => {
  const lines: string[] = [];
  let starts = 0;
  const sup = new Supervisor({ backoffMs: 20, maxBackoffMs: 50, maxFailures: 3, log: (l) => lines.push(l) });
  sup.add({
    name: 'relay',
    start: () => {
      starts++;
      return spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
    },
  });
  await assert.rejects(sup.done, /relay exited with code 3 and failed 4 times in a row; giving up/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(starts, 4, 'no restart after giving up');
  assert.equal(lines.filter((l) => l.includes('giving up')).length, 1, lines.join('\n'));
});
