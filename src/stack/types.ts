/** The four local services the embedded stack runs. */
export type ServiceName = 'mariadb' | 'kafka' | 'mongodb' | 'redis';

export const SERVICE_NAMES: readonly ServiceName[] = ['mariadb', 'kafka', 'mongodb', 'redis'];

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
  };
  /** The services this command acts on (`--only`); all four by default. */
  services: ServiceName[];
  /** How long `up` waits for one service to answer its health check. */
  startTimeoutMs: number;
}

/** What the rest of the CLI needs to reach the stack: written to `<stateDir>/stack.json`. */
export interface StackUrls {
  mysql: string;
  kafka: string;
  mongodb: string;
  redis: string;
}

export type ServiceState =
  | 'running' // started by this stack, pid alive, health check passed
  | 'unhealthy' // pid alive but the health check failed
  | 'stopped' // no pid file or a dead pid
  | 'external'; // not started by us, but something healthy answers at the URL: reused, never stopped

export interface ServiceStatus {
  name: ServiceName;
  url: string;
  state: ServiceState;
  pid: number | null;
  dataBytes: number;
  dataDir: string;
  logFile: string;
  detail?: string;
}

/**
 * One local service. Implementations know how to prepare their data directory, which command
 * runs them, and how to ask them whether they are healthy (a real request, not a port probe).
 */
export interface LocalService {
  readonly name: ServiceName;
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
  /** Extra ports the service binds, checked for conflicts before start. */
  extraPorts?(): { port: number; option: string; env: string }[];
}
