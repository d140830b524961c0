/**
 * The kinds of local service the embedded stack runs. `kafka` may be several brokers and `spark`
 * a standalone master with workers (none by default); `--only` selects by these names.
 */
export type ServiceName = 'mariadb' | 'kafka' | 'mongodb' | 'redis' | 'spark';

export const SERVICE_NAMES: readonly ServiceName[] = ['mariadb', 'kafka', 'mongodb', 'redis', 'spark'];

/** Resolved options of the local stack: every path absolute, every port decided. */
export interface StackOptions {
  stateDir: string;
  host: string;
  ports: {
    mariadb: number;
    kafka: number;
    kafkaController: number;
    mongodb: number;
    redis: number;
    /**
     * First of the ports the optional cluster processes use: the Spark master (+0, its web UI +1),
     * Spark worker n (+10+2(n-1), web UI +11+2(n-1)), Kafka broker n ≥ 2 (+40+2(n-2), its
     * controller +41+2(n-2)).
     */
    clusterBase: number;
  };
  /** The services this command acts on (`--only`); all of them by default. */
  services: ServiceName[];
  /** Spark standalone workers (0 = no master and no worker: the job runs in local mode). */
  sparkWorkers: number;
  /** Task slots each worker offers: Real-Time Mode needs one per Kafka partition of every query. */
  sparkWorkerCores: number;
  /** Memory each worker gives its executors, e.g. `2g`. */
  sparkWorkerMemory: string;
  /** KRaft nodes, each broker and controller (1 = today's single broker). */
  kafkaBrokers: number;
  /** How long `up` waits for one service to answer its health check. */
  startTimeoutMs: number;
}

/** What the rest of the CLI needs to reach the stack: written to `<stateDir>/stack.json`. */
export interface StackUrls {
  mysql: string;
  /** Every broker's host:port, comma-separated. */
  kafka: string;
  mongodb: string;
  redis: string;
  /** Present when the stack runs a Spark standalone cluster. */
  spark?: {
    master: string;
    /** The master's state as JSON (workers, applications). */
    statusUrl: string;
    /** REST API of a driver submitted with this stack's spark-submit (executors, tasks). */
    driverApiUrl: string;
    workers: number;
  };
}

export type ServiceState =
  | 'running' // started by this stack, pid alive, health check passed
  | 'unhealthy' // pid alive but the health check failed
  | 'stopped' // no pid file or a dead pid
  | 'external'; // not started by us, but something healthy answers at the URL: reused, never stopped

export interface ServiceStatus {
  /** The process: `kafka`, `kafka-2`, `spark-master`, `spark-worker-1`, … */
  name: string;
  /** The `--only` name it belongs to. */
  group: ServiceName;
  url: string;
  state: ServiceState;
  pid: number | null;
  dataBytes: number;
  dataDir: string;
  logFile: string;
  /** A second URL where the process reports its state as JSON (the Spark master and workers). */
  statusUrl?: string;
  detail?: string;
}

/**
 * One local service. Implementations know how to prepare their data directory, which command
 * runs them, and how to ask them whether they are healthy (a real request, not a port probe).
 */
export interface LocalService {
  readonly name: string;
  readonly group: ServiceName;
  readonly port: number;
  /** The option that changes this service's port, named in port-conflict errors. */
  readonly portOption: string;
  /** The environment variable that changes this service's port. */
  readonly portEnv: string;
  url(): string;
  dataDir(): string;
  logFile(): string;
  /** Installs missing binaries, builds JVM classpaths, initialises the data dir. Idempotent. */
  prepare(): Promise<void>;
  /** The command to spawn (detached); its stdout/stderr go to the log file. */
  command(): Promise<{ cmd: string; args: string[]; env?: NodeJS.ProcessEnv }>;
  /** Resolves when the service answers a real request; rejects with the reason otherwise. */
  health(): Promise<void>;
  /** Where the process reports its state as JSON, if it does. */
  statusUrl?(): string;
  /** Extra ports the service binds, checked for conflicts before start. */
  extraPorts?(): { port: number; option: string; env: string }[];
}
