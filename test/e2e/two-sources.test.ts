/**
 * Two source databases with the same table names, synced one after the other into one MongoDB
 * server and one Redis with the default layout, as a user with a staging and a production copy of
 * one schema would. Both must verify exact, and the second must not disturb the first: every source
 * numbers its changes from 1, so entries that met would compare each other's versions (issue 11).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { connect } from '../../src/mysql/connect.ts';
import { createDemoSchema, seedDemo } from '../../src/mysql/demo/seed.ts';
import { runWorkload } from '../../src/mysql/demo/workload.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { cliArgs } from '../support/cli.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

interface Source {
  stack: TestStack;
  database: string;
  configFile: string;
  stateDir: string;
}

const sources: Source[] = [];

async function source(prefix: string, seed: number): Promise<Source> {
  const stack = await getStack();
  const database = uniqueName(prefix);
  const conn = await connect({ url: stack.mysqlUrl });
  try {
    await createDemoSchema(conn, database, { reset: true });
    await seedDemo(conn, database, 2000, seed);
  } finally {
    await conn.end();
  }
  const dir = mkdtempSync(join(tmpdir(), 'syncline-two-'));
  const configFile = join(dir, 'syncline.yaml');
  // No Redis key template and no MongoDB database: the defaults are what is under test.
  writeFileSync(
    configFile,
    `source:
  url: ${stack.mysqlUrl}
  database: ${database}
kafka:
  brokers: [${stack.kafkaBrokers.join(', ')}]
  topicPrefix: ${uniqueName('two')}
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
  const s = { stack, database, configFile, stateDir: join(dir, 'state') };
  sources.push(s);
  return s;
}

function syncline(s: Source, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, cliArgs(s.configFile, s.stateDir, args), {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 400_000,
  });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

async function withRun<T>(s: Source, body: () => Promise<T>): Promise<T> {
  const child: ChildProcess = spawn(
    process.execPath,
    cliArgs(s.configFile, s.stateDir, ['run', '--skip-check']),
    {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise((r) => child.once('exit', r));
  let tail = '';
  const keep = (c: Buffer): void => {
    tail = (tail + c.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  try {
    return await body();
  } catch (err) {
    console.log(`# run's last output:\n${tail}`);
    throw err;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  }
}

function verify(s: Source, wait: boolean): { inSync: boolean; summary: string; code: number } {
  const out = syncline(s, ['verify', ...(wait ? ['--wait', '300'] : []), '--json']);
  const report = JSON.parse(out.stdout || '{}') as {
    inSync?: boolean;
    tables?: {
      table: string;
      sinks: { sink: string; missing: number; extra: number; different: number }[];
    }[];
  };
  const summary = (report.tables ?? [])
    .flatMap((t) => t.sinks.map((k) => `${t.table}/${k.sink}: ${k.missing}m ${k.extra}x ${k.different}d`))
    .join(', ');
  return { inSync: report.inSync === true, summary: summary || out.stderr, code: out.code };
}

after(async () => {
  const stack = await getStack();
  const conn = await connect({ url: stack.mysqlUrl });
  const mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
  for (const s of sources) {
    await conn.query(`DROP DATABASE IF EXISTS ${quoteId(s.database)}`).catch(() => undefined);
    await mongo
      .db(s.database)
      .dropDatabase()
      .catch(() => undefined);
  }
  await mongo.close();
  await conn.end();
});

test('two source databases with the same tables share MongoDB and Redis with the default layout, and both verify exact', async () => {
  const a = await source('two_a', 11);
  const b = await source('two_b', 12);
  for (const s of [a, b]) {
    await withRun(s, async () => {
      const work = await runWorkload({
        target: { url: s.stack.mysqlUrl },
        database: s.database,
        ratePerSecond: 150,
        connections: 3,
        durationMs: 10_000,
        seed: s === a ? 5 : 6,
      });
      assert.ok(work.transactions > 300, 'the writers really wrote');
      const v = verify(s, true);
      assert.equal(v.inSync, true, `${s.database}: ${v.summary}`);
    });
  }
  // The second source's writes, versions and tombstones must have left the first one's copy alone.
  const again = verify(a, false);
  assert.equal(again.inSync, true, `${a.database} after ${b.database} ran: ${again.summary}`);
});
