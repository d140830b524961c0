// Helpers for the Spark job's integration tests: golden tables and events, a job description on
// unique topics / collections / key prefixes, producing events, running the job as a child process.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Admin, Producer, compatibilityPartitioner, stringSerializers } from '@platformatic/kafka';
import { MongoClient } from 'mongodb';
import { createClient } from 'redis';
import type { TableSchema } from '../../src/model/types.ts';
import { buildJobDescription, type JobDescription, type JobInputs, type JobTableInput } from '../../src/spark/job-description.ts';
import { localCommand, startJob, writeJobFile, type BatchProgress, type RunningJob } from '../../src/spark/launcher.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const GOLDEN_DIR = path.join(ROOT, 'contract/golden');

/** The golden tables as the catalog describes them (generated once from MariaDB). */
export function goldenTables(): TableSchema[] {
  return JSON.parse(readFileSync(path.join(ROOT, 'jvm/spark-job/src/test/resources/golden-tables.json'), 'utf8')) as TableSchema[];
}

export interface GoldenEvent {
  description: string;
  topic: string;
  key: Record<string, unknown>;
  value: Record<string, unknown>;
}

/** The golden events in changelog order. Their JSON text is kept as the relay wrote it. */
export function goldenEvents(): { event: GoldenEvent; keyText: string; valueText: string }[] {
  return readdirSync(GOLDEN_DIR)
    .filter((f) => /^\d+-.*\.json$/.test(f))
    .sort()
    .map((f) => {
      const text = readFileSync(path.join(GOLDEN_DIR, f), 'utf8');
      const event = JSON.parse(text) as GoldenEvent;
      // Re-serialise key and value from the raw text so big numbers keep their exact lexemes.
      return { event, keyText: rawMember(text, 'key'), valueText: rawMember(text, 'value') };
    });
}

/** The compact JSON text of a top-level member, cut from the raw file (no number rounding). */
function rawMember(text: string, member: string): string {
  const start = text.indexOf(`"${member}": `);
  if (start < 0) throw new Error(`member ${member} not found`);
  let i = start + member.length + 4;
  let depth = 0;
  let inString = false;
  let out = '';
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') {
        out += text[++i];
      } else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    if (/\s/.test(ch)) continue;
    out += ch;
    if (ch === '{' || ch === '[') depth++;
    if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) break;
    }
  }
  return out;
}

export interface SparkFixture {
  stack: TestStack;
  name: string;
  /** Topic per table name. */
  topics: Record<string, string>;
  dlqTopic: string;
  mongoDb: string;
  redisPrefix: string;
  stateDir: string;
  job: JobDescription;
  jobFile: string;
  env: NodeJS.ProcessEnv;
}

export interface FixtureOptions {
  tables: TableSchema[];
  settings?: (t: TableSchema, prefix: string) => Partial<JobTableInput>;
  inputs?: Partial<JobInputs>;
}

export async function sparkFixture(prefix: string, o: FixtureOptions): Promise<SparkFixture> {
  const stack = await getStack();
  const name = uniqueName(prefix);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'syncline-spark-'));
  const topics: Record<string, string> = {};
  for (const t of o.tables) topics[t.name] = `${name}.${t.database}.${t.name}`;
  const dlqTopic = `${name}.dlq`;
  const redisPrefix = name;
  const job = buildJobDescription({
    name,
    kafka: { bootstrapServers: stack.kafkaBrokers, dlqTopic },
    checkpointLocation: path.join(stateDir, 'checkpoint'),
    triggerIntervalMs: 500,
    progressFile: path.join(stateDir, 'progress.jsonl'),
    sinks: { mongodb: { database: name }, redis: {} },
    tables: o.tables.map((t) => ({
      schema: t,
      topic: topics[t.name]!,
      redis: { keyTemplate: `${redisPrefix}:{table}:{key}` },
      ...(o.settings?.(t, redisPrefix) ?? {}),
    })),
    ...(o.inputs ?? {}),
  });
  const jobFile = writeJobFile(job, path.join(stateDir, 'job.json'));
  const admin = new Admin({ clientId: 'spark-test-admin', bootstrapBrokers: stack.kafkaBrokers });
  try {
    await admin.createTopics({ topics: [...Object.values(topics), dlqTopic], partitions: 2, replicas: 1 });
  } finally {
    await admin.close();
  }
  const env = { ...process.env, SYNCLINE_MONGODB_URI: stack.mongoUrl, SYNCLINE_REDIS_URL: stack.redisUrl };
  return { stack, name, topics, dlqTopic, mongoDb: name, redisPrefix, stateDir, job, jobFile, env };
}

export async function produce(f: SparkFixture, messages: { topic: string; key: string; value: string }[]): Promise<void> {
  const producer = new Producer({
    clientId: 'spark-test-producer',
    bootstrapBrokers: f.stack.kafkaBrokers,
    serializers: stringSerializers,
    partitioner: compatibilityPartitioner,
    idempotent: true,
  });
  try {
    for (let i = 0; i < messages.length; i += 500) await producer.send({ messages: messages.slice(i, i + 500) });
  } finally {
    await producer.close();
  }
}

export interface JobRun extends RunningJob {
  progress: BatchProgress[];
  logs: string[];
  /** Resolves when the job has reported at least `rows` input rows in total since start. */
  waitForRows(rows: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Run the job as a child process (the same command `syncline spark` uses). */
export function runJob(f: SparkFixture, options: { jobFile?: string } = {}): JobRun {
  const progress: BatchProgress[] = [];
  const logs: string[] = [];
  const waiters: { rows: number; resolve: () => void }[] = [];
  const total = (): number => progress.reduce((a, p) => a + p.numInputRows, 0);
  const running = startJob(localCommand(options.jobFile ?? f.jobFile, { heap: '1g' }), f.env, {
    onProgress: (p) => {
      progress.push(p);
      for (const w of [...waiters]) if (total() >= w.rows) w.resolve();
    },
    onLog: (line) => {
      logs.push(line);
      if (process.env.SYNCLINE_TEST_LOG) process.stderr.write(`[spark] ${line}\n`);
    },
  });
  const run: JobRun = {
    ...running,
    progress,
    logs,
    waitForRows: (rows, timeoutMs = 120_000) =>
      new Promise<void>((resolve, reject) => {
        if (total() >= rows) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`the job processed ${total()} of ${rows} rows in ${timeoutMs} ms; last log lines:\n${logs.slice(-20).join('\n')}`)),
          timeoutMs,
        );
        const w = {
          rows,
          resolve: () => {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(w), 1);
            resolve();
          },
        };
        waiters.push(w);
        void running.exited.then((code) => {
          if (total() < rows) {
            clearTimeout(timer);
            reject(new Error(`the job exited (${code}) after ${total()} of ${rows} rows; last log lines:\n${logs.slice(-30).join('\n')}`));
          }
        });
      }),
    stop: async () => {
      if (running.child.exitCode === null && running.child.signalCode === null) {
        running.child.kill('SIGTERM');
        const timer = setTimeout(() => running.child.kill('SIGKILL'), 15_000);
        await running.exited.catch(() => null);
        clearTimeout(timer);
      }
    },
  };
  return run;
}

type Redis = ReturnType<typeof redisClient>;
const redisClient = (url: string) => createClient({ url });

export async function withSinks<T>(f: SparkFixture, fn: (mongo: MongoClient, redis: Redis) => Promise<T>): Promise<T> {
  const mongo = new MongoClient(f.stack.mongoUrl, { directConnection: true });
  const redis = redisClient(f.stack.redisUrl);
  await mongo.connect();
  await redis.connect();
  try {
    return await fn(mongo, redis);
  } finally {
    await mongo.close();
    await redis.quit();
  }
}

export function uniqueTestName(prefix: string): string {
  return uniqueName(prefix);
}
