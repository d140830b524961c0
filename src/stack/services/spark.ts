import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ensureJvmModules, javaBinary, jvmClasspath } from '../jvm.ts';
import { PORT_ENV } from '../options.ts';
import type { LocalService, StackOptions } from '../types.ts';
import { ServiceBase } from './base.ts';

/**
 * The module flags Spark's launcher adds on Java 17, for every JVM that runs Spark (master,
 * workers, and the job started by src/spark/launcher.ts, which takes them from here: the stack
 * is the lower layer).
 */
export const SPARK_JAVA_FLAGS = [
  'java.lang',
  'java.lang.invoke',
  'java.lang.reflect',
  'java.io',
  'java.net',
  'java.nio',
  'java.util',
  'java.util.concurrent',
  'java.util.concurrent.atomic',
  'jdk.internal.ref',
  'sun.nio.ch',
  'sun.nio.cs',
  'sun.security.action',
  'sun.util.calendar',
]
  .map((p) => `--add-opens=java.base/${p}=ALL-UNNAMED`)
  .concat(['-Dio.netty.tryReflectionSetAccessible=true']);

/** The SPARK_HOME the stack assembles from Maven Central's Spark jars. */
export function sparkHome(stateDir: string): string {
  return join(stateDir, 'spark-home');
}

/** `java -cp` for a Spark process started from the assembled home: conf/ first, as bin/ does. */
export function sparkClasspath(home: string): string {
  return `${join(home, 'conf')}:${join(home, 'jars', '*')}`;
}

/** Environment every process of the local Spark cluster (and SparkSubmit against it) needs. */
export function sparkEnv(home: string, host: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SPARK_HOME: home,
    // Without it Spark's launcher looks for a source checkout to learn the Scala version.
    SPARK_SCALA_VERSION: '2.13',
    SPARK_LOCAL_IP: host,
    SPARK_CONF_DIR: join(home, 'conf'),
  };
}

/**
 * Lays out what Spark's Worker needs to start executors: a folder with RELEASE (the marker of a
 * binary distribution) and jars/ (here links to the jars in the local Maven repository, the same
 * ones a distribution ships). Executors are started by the Worker with `SPARK_HOME/jars/*`.
 */
export function assembleSparkHome(opts: StackOptions, log: (line: string) => void = () => {}): string {
  ensureJvmModules(['spark-runtime'], log);
  const home = sparkHome(opts.stateDir);
  const jars = join(home, 'jars');
  rmSync(jars, { recursive: true, force: true });
  mkdirSync(jars, { recursive: true });
  mkdirSync(join(home, 'conf'), { recursive: true });
  for (const jar of jvmClasspath('spark-runtime').split(':')) {
    if (!jar.endsWith('.jar') || basename(jar) === 'spark-runtime.jar') continue;
    symlinkSync(jar, join(jars, basename(jar)));
  }
  writeFileSync(join(home, 'RELEASE'), 'Spark 4.1.1 assembled by syncline from Maven Central jars\n');
  // What a distribution's bin/spark-submit comes down to (SparkSubmit's main on jars/*), so a
  // submit to this cluster reads exactly like one to any other. In client mode the driver is this
  // JVM: SPARK_DRIVER_MEMORY sizes it, as --driver-memory would.
  mkdirSync(join(home, 'bin'), { recursive: true });
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    join(home, 'bin', 'spark-submit'),
    [
      '#!/bin/sh',
      '# Written by `syncline stack up`: Spark 4.1.1 from the jars in ../jars.',
      `SPARK_HOME=${quote(home)}`,
      'export SPARK_HOME',
      'export SPARK_SCALA_VERSION=2.13',
      // The driver's UI and ports on loopback, like every other process of the stack.
      'export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"',
      `exec "\${JAVA_HOME:+$JAVA_HOME/bin/}java" -Xmx"\${SPARK_DRIVER_MEMORY:-1g}" ${SPARK_JAVA_FLAGS.join(' ')} \\`,
      `  -cp ${quote(sparkClasspath(home))} org.apache.spark.deploy.SparkSubmit "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  // spark-submit reads these; a driver of this stack then serves its REST API (executors, tasks)
  // on a port the stack owns (the next ones if taken) instead of 4040 on every interface.
  writeFileSync(
    join(home, 'conf', 'spark-defaults.conf'),
    [
      `spark.ui.port ${sparkDriverUiPort(opts)}`,
      'spark.driver.host 127.0.0.1',
      'spark.driver.bindAddress 127.0.0.1',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(home, 'conf', 'log4j2.properties'),
    [
      'rootLogger.level = warn',
      'rootLogger.appenderRef.stderr.ref = console',
      'appender.console.type = Console',
      'appender.console.name = console',
      'appender.console.target = SYSTEM_ERR',
      'appender.console.layout.type = PatternLayout',
      // %ex, not the default extended trace: that one loads classes to name their jars, which fails
      // (and logs its own ERROR) when a task is interrupted while a stopping job logs.
      'appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex',
      // Registration and executor start/exit lines are what explains a cluster's state.
      'logger.master.name = org.apache.spark.deploy.master',
      'logger.master.level = info',
      'logger.worker.name = org.apache.spark.deploy.worker',
      'logger.worker.level = info',
      '',
    ].join('\n'),
  );
  return home;
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
  return res.json();
}

interface MasterJson {
  status?: string;
  workers?: { host: string; port: number; state: string; cores: number }[];
}

export function sparkMasterPorts(opts: StackOptions): { port: number; webUi: number } {
  return { port: opts.ports.clusterBase, webUi: opts.ports.clusterBase + 1 };
}

/** The web UI (and REST API, /api/v1) port of a driver submitted with the stack's spark-submit. */
export function sparkDriverUiPort(opts: StackOptions): number {
  return opts.ports.clusterBase + 80;
}

export function sparkMasterUrl(opts: StackOptions): string {
  return `spark://${opts.host}:${sparkMasterPorts(opts).port}`;
}

/** The Spark standalone master. Its web UI serves the cluster's state as JSON at /json. */
export class SparkMasterService extends ServiceBase implements LocalService {
  readonly name = 'spark-master';
  readonly group = 'spark' as const;
  readonly portOption = '--cluster-base-port';
  readonly portEnv = PORT_ENV.clusterBase;

  get port(): number {
    return sparkMasterPorts(this.opts).port;
  }

  url(): string {
    return sparkMasterUrl(this.opts);
  }

  statusUrl(): string {
    return `http://${this.opts.host}:${sparkMasterPorts(this.opts).webUi}/json/`;
  }

  extraPorts() {
    return [{ port: sparkMasterPorts(this.opts).webUi, option: this.portOption, env: this.portEnv }];
  }

  async prepare(): Promise<void> {
    this.ensureDirs();
    // Laid out anew with each master start: the jars may have moved with a rebuild.
    assembleSparkHome(this.opts);
  }

  async command() {
    const home = sparkHome(this.opts.stateDir);
    return {
      cmd: javaBinary(),
      args: [
        '-Xmx512m',
        ...SPARK_JAVA_FLAGS,
        // Carries this service's home in the command line: `down` only stops what carries it.
        `-Dsyncline.service=${this.home()}`,
        // A worker lost by SIGKILL is noticed after this many seconds without a heartbeat.
        '-Dspark.worker.timeout=15',
        '-cp',
        sparkClasspath(home),
        'org.apache.spark.deploy.master.Master',
        '--host',
        this.opts.host,
        '--port',
        String(this.port),
        '--webui-port',
        String(sparkMasterPorts(this.opts).webUi),
      ],
      env: sparkEnv(home, this.opts.host),
    };
  }

  async health(): Promise<void> {
    const json = (await getJson(this.statusUrl())) as MasterJson;
    if (json.status !== 'ALIVE') throw new Error(`master status is ${json.status ?? 'unknown'}, not ALIVE`);
  }
}

/** A Spark standalone worker: registers with the master and starts executors for applications. */
export class SparkWorkerService extends ServiceBase implements LocalService {
  readonly name: string;
  readonly group = 'spark' as const;
  readonly portOption = '--cluster-base-port';
  readonly portEnv = PORT_ENV.clusterBase;

  constructor(
    opts: StackOptions,
    readonly index: number,
  ) {
    super(opts);
    this.name = `spark-worker-${index}`;
  }

  get port(): number {
    return this.opts.ports.clusterBase + 10 + 2 * (this.index - 1);
  }

  private webUiPort(): number {
    return this.port + 1;
  }

  url(): string {
    return `spark://${this.opts.host}:${this.port}`;
  }

  statusUrl(): string {
    return `http://${this.opts.host}:${this.webUiPort()}/json/`;
  }

  extraPorts() {
    return [{ port: this.webUiPort(), option: this.portOption, env: this.portEnv }];
  }

  private workDir(): string {
    return join(this.dataDir(), 'work');
  }

  async prepare(): Promise<void> {
    this.ensureDirs();
    mkdirSync(this.workDir(), { recursive: true });
    // Executor folders of earlier runs (their logs and fetched jars) only fill the disk.
    for (const entry of readdirSync(this.workDir())) {
      rmSync(join(this.workDir(), entry), { recursive: true, force: true });
    }
    if (!existsSync(join(sparkHome(this.opts.stateDir), 'RELEASE'))) assembleSparkHome(this.opts);
  }

  async command() {
    const home = sparkHome(this.opts.stateDir);
    return {
      cmd: javaBinary(),
      args: [
        '-Xmx256m',
        ...SPARK_JAVA_FLAGS,
        `-Dsyncline.service=${this.home()}`,
        '-cp',
        sparkClasspath(home),
        'org.apache.spark.deploy.worker.Worker',
        '--host',
        this.opts.host,
        '--port',
        String(this.port),
        '--webui-port',
        String(this.webUiPort()),
        '--cores',
        String(this.opts.sparkWorkerCores),
        '--memory',
        this.opts.sparkWorkerMemory,
        '--work-dir',
        this.workDir(),
        sparkMasterUrl(this.opts),
      ],
      env: sparkEnv(home, this.opts.host),
    };
  }

  /** Healthy once the master lists this worker as ALIVE: answering on its own port is not enough. */
  async health(): Promise<void> {
    const master = (await getJson(
      `http://${this.opts.host}:${sparkMasterPorts(this.opts).webUi}/json/`,
    )) as MasterJson;
    const me = (master.workers ?? []).find(
      (w) => w.port === this.port && w.host === this.opts.host && w.state === 'ALIVE',
    );
    if (!me) throw new Error(`the master at ${sparkMasterUrl(this.opts)} does not list this worker as ALIVE`);
  }
}
