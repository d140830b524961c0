/**
 * The pipeline on a real Spark standalone cluster (master + 2 workers) and a 3-broker Kafka, both
 * started by `syncline stack up --spark-workers 2 --kafka-brokers 3`: `syncline run` submits the
 * cluster jar through spark-submit, writers change the 4 demo tables, one worker and later one
 * broker are killed with SIGKILL mid-stream, and `verify` must still find 0 differences. The
 * driver's REST API must show that executors on both workers ran tasks.
 *
 * MariaDB, MongoDB and Redis are the test run's shared stack; the cluster processes live in a
 * state dir of their own on ports from SYNCLINE_CLUSTER_TEST_BASE_PORT (default 19300).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { connect } from '../../src/mysql/connect.ts';
import { createDemoSchema, seedDemo } from '../../src/mysql/demo/seed.ts';
import { runWorkload } from '../../src/mysql/demo/workload.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { resolveStackOptions } from '../../src/stack/options.ts';
import { isAlive } from '../../src/stack/process.ts';
import { sparkHome } from '../../src/stack/services/spark.ts';
import { stackDown, stackUp } from '../../src/stack/stack.ts';
import type { StackOptions, StackUrls } from '../../src/stack/types.ts';
import { dropEverywhere, logVerifyReport } from '../support/pipeline.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

const CLI = join(PROJECT_ROOT, 'src', 'cli', 'main.ts');
const BASE = Number(process.env.SYNCLINE_CLUSTER_TEST_BASE_PORT ?? 19300);
const TABLES = ['customers', 'products', 'orders', 'order_items'];

interface StatusJson {
  services: {
    name: string;
    group: string;
    url: string;
    statusUrl?: string;
    state: string;
    pid: number | null;
  }[];
}

interface Executor {
  id: string;
  hostPort: string;
  totalTasks: number;
}

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

describe('the pipeline on a 2-worker Spark cluster and a 3-broker Kafka', () => {
  const clusterDir = mkdtempSync(join(tmpdir(), 'syncline-cluster-'));
  const stackFlags = {
    stateDir: join(clusterDir, 'stack'),
    kafkaPort: BASE + 90,
    kafkaControllerPort: BASE + 91,
    clusterBasePort: BASE,
    sparkWorkers: 2,
    kafkaBrokers: 3,
    only: 'kafka,spark',
  };
  // Flags beat the SYNCLINE_*_PORT variables a developer may have set for the shared stack.
  const statusArgs = [
    'stack',
    'status',
    '--json',
    '--state-dir',
    stackFlags.stateDir,
    '--only',
    'kafka,spark',
    '--kafka-port',
    String(stackFlags.kafkaPort),
    '--kafka-controller-port',
    String(stackFlags.kafkaControllerPort),
    '--cluster-base-port',
    String(BASE),
  ];
  let opts: StackOptions;
  let urls: StackUrls;
  let shared: TestStack;
  let database: string;
  let configFile: string;
  let run: ChildProcess | undefined;
  let runTail = '';

  const cli = (args: string[], timeoutMs = 400_000) => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', CLI, '--config', configFile, '--state-dir', join(clusterDir, 'pipeline'), ...args],
      { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: timeoutMs, env: runEnv() },
    );
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  };
  // The user's way to name a Spark installation: here the one the stack assembled.
  const runEnv = () => ({ ...process.env, SPARK_HOME: sparkHome(opts.stateDir) });

  before(async () => {
    shared = await getStack();
    opts = resolveStackOptions(stackFlags);
    const t0 = Date.now();
    urls = (await stackUp(opts, (line) => console.log(`# stack: ${line}`))).urls;
    console.log(`# cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    database = uniqueName('cluster');
    const conn = await connect({ url: shared.mysqlUrl });
    try {
      await createDemoSchema(conn, database, { reset: true });
      await seedDemo(conn, database, 4000, 11);
    } finally {
      await conn.end();
    }
    configFile = join(clusterDir, 'syncline.yaml');
    const tables = TABLES.map((t) => `  ${t}:\n    redis:\n      key: "{db}:{table}:{key}"`).join('\n');
    writeFileSync(
      configFile,
      `source:
  url: ${shared.mysqlUrl}
  database: ${database}
  tables: "*"
kafka:
  brokers: [${urls.kafka}]
  topicPrefix: ${uniqueName('cl')}
  partitions: 3
spark:
  master: ${urls.spark!.master}
  checkpointInterval: 10 seconds
sinks:
  mongodb:
    url: ${shared.mongoUrl}
    database: ${database}
  redis:
    url: ${shared.redisUrl}
tables:
${tables}
`,
    );
  });

  after(async () => {
    if (run && run.exitCode === null && run.signalCode === null) {
      const exited = new Promise((r) => run!.once('exit', r));
      run.kill('SIGTERM');
      await exited;
    }
    const before = (await stackDown(opts)).stopped.map((s) => s.pid);
    for (const pid of before) assert.equal(isAlive(pid), false, `pid ${pid} is gone after stack down`);
    await dropEverywhere(shared, database);
    rmSync(clusterDir, { recursive: true, force: true });
  });

  test('stack status --json lists the master (spark:// and JSON URL), both workers and all three brokers', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...statusArgs], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const status = JSON.parse(r.stdout) as StatusJson;
    const byName = new Map(status.services.map((s) => [s.name, s]));
    assert.deepEqual([...byName.keys()].sort(), [
      'kafka',
      'kafka-2',
      'kafka-3',
      'spark-master',
      'spark-worker-1',
      'spark-worker-2',
    ]);
    for (const s of status.services) assert.equal(s.state, 'running', `${s.name} is running`);
    assert.equal(byName.get('spark-master')!.url, `spark://127.0.0.1:${BASE}`);
    assert.equal(byName.get('spark-master')!.statusUrl, `http://127.0.0.1:${BASE + 1}/json/`);
    assert.deepEqual(urls.kafka.split(',').length, 3);
  });

  test('run on the cluster under writers survives a killed worker and a killed broker: verify finds 0 differences', async () => {
    // Topics replicated 3 ways with 2 in sync: created by `run` through the broker defaults.
    run = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        CLI,
        '--config',
        configFile,
        '--state-dir',
        join(clusterDir, 'pipeline'),
        'run',
        '--skip-check',
        '--metrics-port',
        '0',
      ],
      {
        cwd: PROJECT_ROOT,
        env: runEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const keep = (c: Buffer) => (runTail = (runTail + c.toString()).slice(-6000));
    run.stdout!.on('data', keep);
    run.stderr!.on('data', keep);

    const api = urls.spark!.driverApiUrl;
    // The application must be up with both executors before anything is killed.
    let appId = '';
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      try {
        appId = (await json<{ id: string }[]>(`${api}/applications`))[0]?.id ?? '';
        const executors = await json<Executor[]>(`${api}/applications/${appId}/executors`);
        if (executors.filter((e) => e.id !== 'driver' && e.totalTasks > 0).length >= 2) break;
      } catch {
        // the driver is still starting
      }
      assert.equal(run.exitCode, null, `run exited early:\n${runTail}`);
      await sleep(2000);
    }
    assert.ok(appId, `the driver's REST API answered at ${api}:\n${runTail}`);

    // Which executor ran on which worker, from the workers' own JSON (before one of them dies).
    const status = JSON.parse(
      spawnSync(process.execPath, ['--import', 'tsx', CLI, ...statusArgs], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
      }).stdout,
    ) as StatusJson;
    const workerExecutors = new Map<string, string[]>();
    for (const w of status.services.filter((s) => s.name.startsWith('spark-worker-'))) {
      const state = await json<{ executors: { id: number; appid: string }[] }>(w.statusUrl!);
      workerExecutors.set(
        w.name,
        state.executors.filter((e) => e.appid === appId).map((e) => String(e.id)),
      );
    }
    const pid = (name: string) => status.services.find((s) => s.name === name)!.pid!;

    const writers = runWorkload({
      target: { url: shared.mysqlUrl },
      database,
      ratePerSecond: 150,
      connections: 4,
      durationMs: 60_000,
      seed: 5,
    });
    await sleep(15_000);
    console.log(`# SIGKILL spark-worker-1 (pid ${pid('spark-worker-1')})`);
    process.kill(pid('spark-worker-1'), 'SIGKILL');
    await sleep(20_000);
    console.log(`# SIGKILL kafka-3 (pid ${pid('kafka-3')})`);
    process.kill(pid('kafka-3'), 'SIGKILL');
    const work = await writers;
    console.log(
      `# workload: ${work.transactions} transactions (${work.inserts} inserts, ${work.updates} updates, ${work.deletes} deletes)`,
    );
    assert.ok(work.transactions > 3000, 'the writers really wrote');

    const out = cli(['verify', '--wait', '240', '--json']);
    const report = logVerifyReport(out.stdout);
    assert.equal(report.inSync, true, `verify found differences:\n${out.stderr}\n${runTail}`);
    assert.equal(out.code, 0);
    assert.equal(run.exitCode, null, 'run kept running through both kills');

    const executors = await json<Executor[]>(`${api}/applications/${appId}/allexecutors`);
    const tasks = (ids: string[]) =>
      executors.filter((e) => ids.includes(e.id)).reduce((n, e) => n + e.totalTasks, 0);
    for (const [worker, ids] of workerExecutors) {
      console.log(`# ${worker}: executor(s) ${ids.join(', ')} ran ${tasks(ids)} task(s)`);
      assert.ok(tasks(ids) > 0, `an executor on ${worker} ran tasks`);
    }

    // The topics really are replicated: 3 copies, 2 of which must acknowledge a write.
    const admin = new Admin({
      clientId: 'cluster-test',
      bootstrapBrokers: urls.kafka.split(',').slice(0, 2),
    });
    try {
      const ours = (await admin.listTopics()).filter((t) => t.includes(database));
      assert.ok(ours.length >= TABLES.length, 'the table topics exist');
      const meta = await admin.metadata({ topics: ours });
      for (const [name, t] of meta.topics)
        for (const p of t.partitions) assert.equal(p.replicas.length, 3, `${name} has 3 replicas`);
    } finally {
      await admin.close();
    }
  });
});
