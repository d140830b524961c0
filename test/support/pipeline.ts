// What end-to-end tests do as a user would: a syncline.yaml with the defaults under test, `syncline
// run` as a child process, `verify --json`, and removal of all it made in the stack.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../../src/config/load.ts';
import { redact } from '../../src/config/redact.ts';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { removePipelineData } from '../../src/pipeline/remove-data.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { cliArgs } from './cli.ts';
import { uniqueName, type TestStack } from './stack.ts';

export interface PipelineFiles {
  configFile: string;
  stateDir: string;
}

/**
 * A config naming only the services, the database and a unique topic prefix: no Redis key template
 * and no MongoDB database, so the defaults are what runs.
 */
export function writeDefaultConfig(
  stack: TestStack,
  database: string,
  prefix: string,
  capture: 'trigger' | 'binlog' = 'trigger',
): PipelineFiles {
  const dir = mkdtempSync(join(tmpdir(), `syncline-${prefix}-`));
  const configFile = join(dir, 'syncline.yaml');
  writeFileSync(
    configFile,
    `source:
  url: ${stack.mysqlUrl}
  database: ${database}
  capture: ${capture}
kafka:
  brokers: [${stack.kafkaBrokers.join(', ')}]
  topicPrefix: ${uniqueName(prefix)}
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
  return { configFile, stateDir: join(dir, 'state') };
}

export interface RunningPipeline {
  /** The last few KB of run's output, for a failure message. */
  tail(): string;
  /** How many lines of run's whole output so far match the pattern. */
  count(pattern: RegExp): number;
  /**
   * Resolves once run has installed the triggers and started the relay and the Spark job: changes
   * made earlier are only picked up by its snapshot, and a `verify --wait` before it finds nothing
   * to wait for.
   */
  started(timeoutMs?: number): Promise<void>;
  /** SIGTERM (unless it already ended) and wait for the exit. */
  stop(): Promise<void>;
}

export function startRun(files: PipelineFiles): RunningPipeline {
  const child = spawn(process.execPath, cliArgs(files.configFile, files.stateDir, ['run', '--skip-check']), {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  let tail = '';
  let all = '';
  const keep = (c: Buffer): void => {
    tail = (tail + c.toString()).slice(-6000);
    all += c.toString();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    tail: () => tail,
    count: (pattern) => all.split('\n').filter((line) => pattern.test(line)).length,
    started: async (timeoutMs = 180_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!/run: relay and Spark job started/.test(tail)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`syncline run ended before it started the pipeline:\n${tail}`);
        if (Date.now() > deadline)
          throw new Error(`syncline run did not start within ${timeoutMs} ms:\n${tail}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface VerifyResult {
  code: number;
  inSync: boolean;
  /** One line per table and sink: rows, missing, extra, different, first examples. */
  lines: string[];
  stderr: string;
}

export function verifyPipeline(files: PipelineFiles, wait: boolean): VerifyResult {
  const r = spawnSync(
    process.execPath,
    cliArgs(files.configFile, files.stateDir, ['verify', ...(wait ? ['--wait', '300'] : []), '--json']),
    { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 400_000 },
  );
  const report = JSON.parse(r.stdout || '{}') as {
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
        `${t.table}/${s.sink}: ${t.rows} rows, ${s.missing} missing, ${s.extra} extra, ${s.different} different${s.examples.length ? ` ${JSON.stringify(s.examples.slice(0, 3))}` : ''}`,
    ),
  );
  return { code: r.status ?? 1, inSync: report.inSync === true, lines, stderr: r.stderr };
}

export interface VerifyReport {
  inSync: boolean;
  tables: {
    table: string;
    sinks: { sink: string; checked: number; missing: number; extra: number; different: number }[];
  }[];
}

/** Parses `verify --json` output and logs one `# verify` line per table and sink. */
export function logVerifyReport(stdout: string): VerifyReport {
  const report = JSON.parse(stdout) as VerifyReport;
  for (const t of report.tables)
    for (const s of t.sinks)
      console.log(
        `# verify ${t.table} ${s.sink}: ${s.checked} rows, ${s.missing} missing, ${s.extra} extra, ${s.different} different`,
      );
  return report;
}

/**
 * Removes what a pipeline test made in the shared stack, named by the test's own config file: the
 * MySQL and MongoDB databases, the Redis entries under the default key layout with their
 * tombstones and the source's floors, the topics, and the state dir. The local stack is the
 * developer's own and the demo's too (decision 0103). A removal that fails is written to stderr
 * and fails no test: the test has said what it proves by then.
 */
export async function dropPipeline(files: PipelineFiles): Promise<void> {
  try {
    const config = loadConfig({ configPath: files.configFile, stateDir: files.stateDir });
    await removePipelineData(config, { dropSource: true });
    rmSync(files.stateDir, { recursive: true, force: true });
  } catch (err) {
    process.stderr.write(`cleanup of ${files.configFile}: ${redact((err as Error).message)}\n`);
  }
}

/** Drops the database in MySQL and its MongoDB database, for a test that ran no pipeline on it. */
export async function dropEverywhere(stack: TestStack, database: string): Promise<void> {
  const conn = await connect({ url: stack.mysqlUrl });
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
