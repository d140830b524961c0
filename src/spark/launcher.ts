// Starts the Spark job: locally as `java -cp` with the flags spark-submit would add, or prints /
// runs a spark-submit line for a cluster with the self-contained cluster jar.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { JVM_DIR, ensureJvmModules, javaBinary, jvmClasspath, newestMtime } from '../stack/jvm.ts';
import { SPARK_JAVA_FLAGS, sparkHome } from '../stack/services/spark.ts';
import { classArchiveOptions } from './class-archive.ts';
import type { JobDescription } from './job-description.ts';

export const MAIN_CLASS = 'dev.syncline.spark.SynclineJob';
export const CLUSTER_JAR = join(JVM_DIR, 'spark-job', 'target', 'spark-job-cluster.jar');

export interface Command {
  command: string;
  args: string[];
}

/** Write the job description where the job will read it; returns the path. */
export function writeJobFile(job: JobDescription, path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(job, null, 2)}\n`);
  return path;
}

/** True for a master that `java -cp` runs in-process (`local`, `local[N]`, `local[N,F]`). */
export function isLocalMaster(master: string | undefined): boolean {
  return master === undefined || master.startsWith('local');
}

/**
 * The local job shares its machine's cores with MariaDB, Kafka and the sinks, and Spark keeps
 * generating classes as it plans each batch: with C2 on, the compiler threads took about as much
 * CPU as the tasks themselves during an initial load (flight recording, 200,000 rows), and stopping
 * at C1 made that load 1.25–1.6× faster with no loss on the Redis-only stage (decision 0072).
 * `SYNCLINE_SPARK_JAVA_OPTIONS=-XX:TieredStopAtLevel=4` brings C2 back (later flags win).
 */
const LOCAL_JIT_FLAGS = ['-XX:TieredStopAtLevel=1'];

/**
 * The job is CPU-bound on a small machine and its live heap is small (~70 MB in steady state):
 * the parallel collector's cheaper write barriers took 12–18 % off the job's CPU per event
 * against G1 (decision 0080). The metaspace threshold keeps class loading at start from
 * triggering full collections. Left out when the user's own options choose a collector (two
 * collectors on one command line stop the JVM).
 */
const LOCAL_GC_FLAGS = ['-XX:+UseParallelGC', '-XX:MetaspaceSize=256m'];

/** The local job's JVM options: heap, Spark's module flags, C1 only, the collector, then the user's own. */
export function localJvmOptions(heap: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const own = env.SYNCLINE_SPARK_JAVA_OPTIONS?.split(/\s+/).filter(Boolean) ?? [];
  const ownCollector = own.some((o) => /^-XX:\+Use\w+GC$/.test(o));
  return [
    `-Xmx${heap}`,
    ...SPARK_JAVA_FLAGS,
    ...LOCAL_JIT_FLAGS,
    ...(ownCollector ? [] : LOCAL_GC_FLAGS),
    ...own,
  ];
}

/**
 * `java … SynclineJob <job.json>` for local mode (master from the job, default local[2]). A job
 * whose master is a cluster (spark://, yarn, k8s://) gets the spark-submit command instead, the
 * same one `syncline spark --print-submit` prints: there is one way to start the job on a cluster,
 * whichever command starts it. Its state dir is the one the job file was written under
 * (`<state>/spark/<name>.job.json`), where `stack up --spark-workers` assembles SPARK_HOME.
 */
export function localCommand(jobFile: string, options: { heap?: string; check?: boolean } = {}): Command {
  if (!options.check) {
    const master = (JSON.parse(readFileSync(jobFile, 'utf8')) as { master?: string }).master;
    if (!isLocalMaster(master)) {
      ensureClusterJar();
      return submitCommand(jobFile, master!, {}, { stateDir: dirname(dirname(jobFile)) });
    }
  }
  ensureJvmModules(['spark-job']);
  const java = javaBinary();
  const classpath = jvmClasspath('spark-job', { pinned: true });
  const jvmOptions = localJvmOptions(options.heap ?? '2g');
  // A user's own -Xshare or archive (SYNCLINE_SPARK_JAVA_OPTIONS) wins over the job's archive.
  const ownSharing = jvmOptions.some((o) => o.startsWith('-Xshare') || o.startsWith('-XX:SharedArchiveFile'));
  return {
    command: java,
    args: [
      ...jvmOptions,
      ...(ownSharing ? [] : classArchiveOptions(java, SPARK_JAVA_FLAGS, classpath)),
      '-cp',
      classpath,
      MAIN_CLASS,
      ...(options.check ? ['--check'] : []),
      jobFile,
    ],
  };
}

export interface SubmitOptions {
  /** Where a `stack up --spark-workers N` may have assembled a SPARK_HOME. */
  stateDir?: string;
}

/**
 * Spark's own submit path (spark-submit) for a cluster, in client mode: the driver runs here, reads
 * the job file and the connection settings from its environment (never from the command line,
 * where `ps` would show them, nor from Spark conf, which the UI and event logs show); executors
 * get the resolved settings with their tasks and open their own sink clients.
 *
 * spark-submit is $SPARK_HOME/bin/spark-submit, else the one of the SPARK_HOME that
 * `stack up --spark-workers N` assembled in the state dir, else the one on PATH.
 */
export function submitCommand(
  jobFile: string,
  master: string,
  extraConf: Record<string, string> = {},
  options: SubmitOptions = {},
): Command {
  const args = ['--master', master, '--deploy-mode', 'client', '--class', MAIN_CLASS, '--name', 'syncline'];
  const conf: Record<string, string> = {};
  // Executors must reach the driver: on a loopback master it must not advertise another address.
  if (/^spark:\/\/(127\.|localhost[:/]|\[::1\])/.test(master)) {
    conf['spark.driver.host'] = '127.0.0.1';
    conf['spark.driver.bindAddress'] = '127.0.0.1';
  }
  Object.assign(conf, extraConf);
  for (const [k, v] of Object.entries(conf)) args.push('--conf', `${k}=${v}`);
  args.push(CLUSTER_JAR, jobFile);
  const home = process.env.SPARK_HOME || (options.stateDir ? sparkHome(options.stateDir) : undefined);
  if (home && existsSync(join(home, 'bin', 'spark-submit'))) {
    return { command: join(home, 'bin', 'spark-submit'), args };
  }
  return { command: 'spark-submit', args };
}

/** Builds the cluster jar (Maven profile `cluster`) unless an up-to-date one is there already. */
export function ensureClusterJar(): void {
  // A jar older than the job's sources would run yesterday's job on the cluster.
  if (
    existsSync(CLUSTER_JAR) &&
    statSync(CLUSTER_JAR).mtimeMs >= newestMtime(join(JVM_DIR, 'spark-job', 'src', 'main')) &&
    statSync(CLUSTER_JAR).mtimeMs >= statSync(join(JVM_DIR, 'spark-job', 'pom.xml')).mtimeMs
  )
    return;
  const r = spawnSync(
    'mvn',
    [
      '-B',
      '-q',
      '-ntp',
      '-f',
      join(JVM_DIR, 'pom.xml'),
      '-pl',
      'spark-job',
      '-Pcluster',
      '-DskipTests',
      'package',
    ],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`building the cluster jar failed (mvn -Pcluster package in jvm/spark-job):\n${tail}`);
  }
}

/** A shell-safe rendering of a command, for --print-submit. */
export function shellLine(cmd: Command): string {
  const quote = (s: string): string =>
    /^[A-Za-z0-9_@%+=:,./[\]-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
  return [cmd.command, ...cmd.args].map(quote).join(' ');
}

export interface ExpressionProblem {
  table: string;
  field: string;
  message: string;
}

/**
 * Analyse every Spark SQL expression of the job description with Spark itself (the job's
 * `--check` mode, a few seconds). Returns the problems; an empty list means the job will start.
 */
export function checkJobDescription(jobFile: string): ExpressionProblem[] {
  const cmd = localCommand(jobFile, { heap: '1g', check: true });
  const r = spawnSync(cmd.command, cmd.args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('['));
  if (line === undefined) {
    throw new Error(
      `the Spark job's --check mode failed (exit ${r.status}):\n${(r.stderr ?? '').trim().split('\n').slice(-15).join('\n')}`,
    );
  }
  return JSON.parse(line) as ExpressionProblem[];
}

/** One batch's progress as the job prints it (`SYNCLINE_PROGRESS <json>`). */
export interface BatchProgress {
  /** The sink whose query ran the batch (one query per sink and table; absent before 0040). */
  sink?: 'mongodb' | 'redis';
  /** The query that sends the table's validation dead letters: its lines count events. */
  primary?: boolean;
  /** The query's Kafka offsets after the batch, as JSON text ({"topic":{"0":n,…}}). */
  endOffset?: string;
  batchId: number;
  timestamp: string;
  numInputRows: number;
  inputRowsPerSecond: number;
  processedRowsPerSecond: number;
  durationMs: number;
  tables: Record<string, Record<string, number | Record<string, number>>>;
  dlq: Record<string, number>;
}

export const PROGRESS_PREFIX = 'SYNCLINE_PROGRESS ';

export function parseProgressLine(line: string): BatchProgress | null {
  if (!line.startsWith(PROGRESS_PREFIX)) return null;
  try {
    return JSON.parse(line.slice(PROGRESS_PREFIX.length)) as BatchProgress;
  } catch {
    return null;
  }
}

export interface RunningJob {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/**
 * Start the job as a child process. Progress lines are handed to onProgress; every other stdout
 * line and all of stderr go to onLog. The env holds the sink URLs: never log it.
 */
export function startJob(
  cmd: Command,
  env: NodeJS.ProcessEnv,
  handlers: {
    onProgress?: (p: BatchProgress) => void;
    onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  } = {},
): RunningJob {
  // Spark otherwise resolves the host name and warns when it maps to loopback.
  const child = spawn(cmd.command, cmd.args, {
    env: { SPARK_LOCAL_IP: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = (stream: 'stdout' | 'stderr'): ((chunk: Buffer) => void) => {
    let buffer = '';
    return (chunk) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const progress = stream === 'stdout' ? parseProgressLine(line) : null;
        if (progress) handlers.onProgress?.(progress);
        else handlers.onLog?.(line, stream);
      }
    };
  };
  child.stdout!.on('data', lines('stdout'));
  child.stderr!.on('data', lines('stderr'));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
  return { child, exited };
}

/** A one-line summary of a batch for the terminal. */
export function formatProgress(p: BatchProgress): string {
  const dlq = Object.values(p.dlq ?? {}).reduce((a, b) => a + b, 0);
  const ms = p.durationMs;
  return `${p.sink ? `${p.sink} ` : ''}batch ${p.batchId}: ${p.numInputRows} events, ${Math.round(p.processedRowsPerSecond)} events/s, ${ms} ms${dlq ? `, ${dlq} to DLQ` : ''}`;
}
