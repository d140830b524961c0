// Before `run` changes anything (triggers, changelog, topics) every service it needs must answer
// and every sink name must be legal. A service that is down at start is waited for with backoff,
// since it may be starting too; a wrong password or an illegal name fails at once, because
// waiting cannot fix it. Either way the failure names the service and the setting.
import type { Config } from '../config/load.ts';
import { ServiceError } from '../errors/registry.ts';
import { probeKafka, probeMongo, probeRedis } from '../observe/probes.ts';
import type { JobDescription } from '../spark/job-description.ts';

export function mongoDatabaseProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  const bad = [...new Set([...name].filter((ch) => '/\\. "$\u0000'.includes(ch)))];
  if (bad.length > 0)
    return `contains ${bad.map((ch) => (ch === '\u0000' ? 'NUL' : JSON.stringify(ch))).join(', ')}, which MongoDB forbids in database names`;
  if (Buffer.byteLength(name, 'utf8') >= 64)
    return `is ${Buffer.byteLength(name, 'utf8')} bytes long; MongoDB database names must be shorter than 64 bytes`;
  return null;
}

export function mongoCollectionProblem(database: string, name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (name.includes('$')) return 'contains "$", which MongoDB forbids in collection names';
  if (name.includes('\u0000')) return 'contains NUL, which MongoDB forbids in collection names';
  if (name.startsWith('system.')) return 'starts with "system.", which MongoDB reserves';
  if (Buffer.byteLength(`${database}.${name}`, 'utf8') > 255)
    return 'makes the namespace <database>.<collection> longer than MongoDB’s 255 bytes';
  return null;
}

/** Every MongoDB name the job would write to, checked before anything starts. */
export function checkMongoNames(config: Config, job: JobDescription): void {
  const problems: string[] = [];
  const database = config.sinks.mongodb.database;
  const dbProblem = mongoDatabaseProblem(database);
  const explicitDb = config.sinks.mongodb.database !== config.source.database;
  if (dbProblem)
    problems.push(
      `the MongoDB database name ${JSON.stringify(database)} (${explicitDb ? 'sinks.mongodb.database' : 'from source.database'}) ${dbProblem}; set sinks.mongodb.database to a legal name`,
    );
  for (const t of job.tables) {
    if (!t.mongodb) continue;
    const collection = t.mongodb.collection;
    const problem = mongoCollectionProblem(database, collection);
    if (problem)
      problems.push(
        `table ${JSON.stringify(t.table)}: the collection name ${JSON.stringify(collection)} ${problem}; set tables.${JSON.stringify(t.table)}.mongodb.collection to a legal name (or tables.<table>.mongodb.enabled: false)`,
      );
  }
  if (problems.length > 0)
    throw new ServiceError('SYNCLINE_MONGODB_NAME', `illegal sink names:\n  ${problems.join('\n  ')}\n`, {
      setting: 'sinks.mongodb.database / tables.<table>.mongodb.collection',
    });
}

export interface WaitOptions {
  /** When to stop waiting (epoch ms). */
  deadline: number;
  waitMs: number;
  log: (line: string) => void;
  signal?: AbortSignal | undefined;
}

/**
 * Call `fn` until it succeeds or the deadline passes, with backoff (0.5 s doubling to 10 s),
 * logging every wait. Permanent problems (wrong password, illegal name) end the wait at once.
 */
export async function withBackoff<T>(name: string, fn: () => Promise<T>, o: WaitOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await fn();
      if (attempt > 1) o.log(`run: ${name} answers now; continuing`);
      return result;
    } catch (err) {
      if (!(err instanceof ServiceError) || err.permanent || o.signal?.aborted) throw err;
      const delay = Math.min(500 * 2 ** (attempt - 1), 10_000);
      if (Date.now() + delay > o.deadline)
        throw new ServiceError(
          err.code,
          `${err.detail}; gave up after waiting ${Math.round(o.waitMs / 1000)} s (run --wait-for-services <s> or SYNCLINE_WAIT_FOR_SERVICES_SECONDS to wait longer)`,
          { cause: err },
        );
      o.log(
        `run: waiting for ${name}: ${err.message} Retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt}).`,
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Kafka, MongoDB and Redis must all answer before `run` touches the source. */
export async function waitForServices(config: Config, o: WaitOptions): Promise<void> {
  await withBackoff('Kafka', () => probeKafka(config), o);
  await withBackoff('MongoDB', () => probeMongo(config), o);
  await withBackoff('Redis', () => probeRedis(config), o);
}
