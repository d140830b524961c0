// The chaos harness: a private stack, a demo database, `syncline run`, and rounds of "writers
// write, something is killed (SIGKILL) or paused (SIGSTOP) at a random moment, the way a
// supervisor would restart it, writers stop, the pipeline catches up, verify judges".
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { formatTable } from '../../src/format/table.ts';
import { loadConfig } from '../../src/config/load.ts';
import { compareCoordinates } from '../../src/mysql/binlog.ts';
import { connect } from '../../src/mysql/connect.ts';
import { createDemoSchema, seedDemo } from '../../src/mysql/demo/seed.ts';
import { runWorkload } from '../../src/mysql/demo/workload.ts';
import { pipelineStatus, totalLag } from '../../src/observe/status.ts';
import { resolvePipeline } from '../../src/pipeline/job.ts';
import { pipelineName } from '../../src/spark/pipeline-files.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { resolveStackOptions } from '../../src/stack/options.ts';
import { stackDown, stackUp } from '../../src/stack/stack.ts';
import { cliArgs } from './cli.ts';
import type { StackUrls } from '../../src/stack/types.ts';
import { closedPort } from './ports.ts';

export type Fault =
  'relay' | 'spark' | 'kafka' | 'mongodb' | 'redis' | 'mariadb' | 'sigstop-mongodb' | 'sigstop-redis';

export interface RoundResult {
  round: number;
  fault: Fault;
  /** Seconds into the round's write window when the fault hit. */
  hitAtSeconds: number;
  /** From the fault to the pipeline having caught up with everything written (writers stopped). */
  recoverySeconds: number;
  transactions: number;
  inSync: boolean;
  differences: number;
  duplicateIds: number;
}

export interface ChaosOptions {
  faults: Fault[];
  rounds: number;
  seedRows: number;
  /** Seconds the writers write in each round; the fault hits at a random moment inside. */
  writeSeconds: number;
  /** Capture mode under test (default trigger); `relay` is then the binlog reader. */
  capture?: 'trigger' | 'binlog';
  log?: (line: string) => void;
}

export async function runChaos(options: ChaosOptions): Promise<RoundResult[]> {
  const log = options.log ?? ((line: string) => console.log(`# ${line}`));
  const dir = mkdtempSync(join(tmpdir(), 'syncline-chaos-'));
  const stateDir = join(dir, 'state');
  const stackFlags = {
    stateDir,
    mysqlPort: await closedPort(),
    kafkaPort: await closedPort(),
    kafkaControllerPort: await closedPort(),
    mongodbPort: await closedPort(),
    redisPort: await closedPort(),
  };
  const stackOpts = resolveStackOptions(stackFlags);
  const up = await stackUp(stackOpts);
  const urls: StackUrls = up.urls;
  const database = 'chaos';
  const configFile = join(dir, 'syncline.yaml');
  writeFileSync(
    configFile,
    `source: { database: ${database}, capture: ${options.capture ?? 'trigger'} }\nkafka: { partitions: 2 }\nspark: { triggerInterval: 500 ms }\n`,
  );
  const conn = await connect({ url: urls.mysql });
  await createDemoSchema(conn, database, { reset: true });
  await seedDemo(conn, database, options.seedRows, 11);
  await conn.end();

  const args = (a: string[]) => cliArgs(configFile, stateDir, a);
  const config = loadConfig({ configPath: configFile, stateDir });
  let run: ChildProcess | null = null;
  const results: RoundResult[] = [];
  const caughtUp = async (timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    let zeroes = 0;
    while (Date.now() < deadline) {
      try {
        const c = await connect({ url: config.source.url, database });
        try {
          const pipeline = await resolvePipeline(config, c);
          const status = await pipelineStatus(config, c, pipeline);
          const lag = totalLag(status);
          // Binlog capture: the reader has published up to the server's head (writers stopped).
          const { position, head } = status.binlog ?? {};
          const read = !status.binlog || (position && head && compareCoordinates(position, head) >= 0);
          zeroes = lag.backlog === 0 && lag.kafka === 0n && read ? zeroes + 1 : 0;
        } finally {
          await c.end();
        }
        if (zeroes >= 2) return true;
      } catch {
        zeroes = 0; // a service is still coming back
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return false;
  };
  const pids = (): Record<string, number> =>
    JSON.parse(readFileSync(join(stateDir, 'run', `${pipelineName(config)}.json`), 'utf8')) as Record<
      string,
      number
    >;
  const servicePid = (svc: string): number =>
    Number(readFileSync(join(stateDir, svc, `${svc}.pid`), 'utf8').trim());
  const verify = (): { inSync: boolean; differences: number } => {
    const r = spawnSync(process.execPath, args(['verify', '--json']), {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    });
    try {
      const report = JSON.parse(r.stdout) as {
        inSync: boolean;
        tables: { sinks: { missing: number; extra: number; different: number }[] }[];
      };
      const differences = report.tables
        .flatMap((t) => t.sinks)
        .reduce((a, s) => a + s.missing + s.extra + s.different, 0);
      return { inSync: report.inSync && r.status === 0, differences };
    } catch {
      log(`verify failed to run: ${r.stderr.slice(-500)}`);
      return { inSync: false, differences: -1 };
    }
  };
  const duplicateIds = async (): Promise<number> => {
    const mongo = new MongoClient(urls.mongodb);
    await mongo.connect();
    try {
      let dup = 0;
      for (const coll of ['customers', 'products', 'orders', 'order_items']) {
        const d = await mongo
          .db(database)
          .collection(coll)
          .aggregate([{ $group: { _id: '$_id', n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }])
          .toArray();
        dup += d.length;
      }
      return dup;
    } finally {
      await mongo.close();
    }
  };

  try {
    run = spawn(process.execPath, args(['run', '--skip-check', '--metrics-port', '0']), {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    // Lag 0 also holds before the snapshot's first chunk has reached Kafka (no topic, nothing to
    // lag behind): only verify finding every seeded row in the sinks says the load is done, so
    // round 1 measures its fault rather than the rest of the initial load.
    const loadDeadline = Date.now() + 600_000;
    for (;;) {
      if (!(await caughtUp(loadDeadline - Date.now()))) throw new Error('the initial load did not finish');
      if (verify().inSync) break;
      if (Date.now() > loadDeadline) throw new Error('the initial load did not reach the sinks');
      await new Promise((res) => setTimeout(res, 1000));
    }
    log(`initial load of ${options.seedRows} rows done`);
    let round = 0;
    for (let r = 1; r <= options.rounds; r++) {
      for (const fault of options.faults) {
        round += 1;
        const hitAt = 2 + Math.random() * Math.max(1, options.writeSeconds - 4);
        const work = runWorkload({
          target: { url: urls.mysql },
          database,
          ratePerSecond: 80,
          connections: 4,
          durationMs: options.writeSeconds * 1000,
          seed: 100 + round,
        });
        await new Promise((res) => setTimeout(res, hitAt * 1000));
        const hitTime = Date.now();
        if (fault === 'relay' || fault === 'spark') {
          process.kill(pids()[fault]!, 'SIGKILL');
        } else if (fault.startsWith('sigstop-')) {
          const pid = servicePid(fault.slice('sigstop-'.length));
          process.kill(pid, 'SIGSTOP');
          await new Promise((res) => setTimeout(res, 4000)); // several trigger intervals
          process.kill(pid, 'SIGCONT');
        } else {
          process.kill(servicePid(fault), 'SIGKILL');
          await new Promise((res) => setTimeout(res, 1000 + Math.random() * 2000));
          await stackUp(stackOpts); // what a supervisor would do
        }
        const stats = await work.catch((err: Error) => {
          log(`round ${round}: the workload stopped early: ${err.message}`);
          return { transactions: 0 };
        });
        const recovered = await caughtUp(600_000);
        const recoverySeconds = (Date.now() - hitTime) / 1000;
        const v = recovered ? verify() : { inSync: false, differences: -1 };
        const dup = await duplicateIds();
        const result: RoundResult = {
          round,
          fault,
          hitAtSeconds: hitAt,
          recoverySeconds,
          transactions: stats.transactions,
          inSync: v.inSync && dup === 0,
          differences: v.differences,
          duplicateIds: dup,
        };
        log(
          `round ${round} ${fault}: hit at ${hitAt.toFixed(1)} s, caught up ${recoverySeconds.toFixed(1)} s after, ${stats.transactions} transactions, verify ${v.inSync ? 'in sync' : `${v.differences} differences`}, ${dup} duplicate _ids`,
        );
        results.push(result);
        if (run.exitCode !== null)
          throw new Error(`syncline run exited (${run.exitCode}) during round ${round}`);
      }
    }
    return results;
  } finally {
    if (run && run.exitCode === null) {
      const exited = new Promise((r) => run!.once('exit', r));
      run.kill('SIGTERM');
      await exited;
    }
    await stackDown(stackOpts);
  }
}

export function formatRounds(results: RoundResult[]): string {
  const header = ['ROUND', 'FAULT', 'HIT AT', 'RECOVERY', 'TX', 'VERIFY', 'DUP _ID'];
  const rows = results.map((r) => [
    String(r.round),
    r.fault,
    `${r.hitAtSeconds.toFixed(1)} s`,
    `${r.recoverySeconds.toFixed(1)} s`,
    String(r.transactions),
    r.differences === 0 ? '0 divergent' : `${r.differences} divergent`,
    String(r.duplicateIds),
  ]);
  return formatTable(header, rows);
}
