import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SERVICE_NAMES, type ServiceName, type StackOptions } from './types.ts';

/** Non-standard defaults, so a user's own MySQL/Kafka/MongoDB/Redis keep their ports. */
export const DEFAULT_PORTS: StackOptions['ports'] = {
  mariadb: 13306,
  kafka: 19092,
  kafkaController: 19093,
  mongodb: 37017,
  redis: 16379,
  clusterBase: 19200,
};

const ENV_NAMES: Record<keyof StackOptions['ports'], string> = {
  mariadb: 'SYNCLINE_MYSQL_PORT',
  kafka: 'SYNCLINE_KAFKA_PORT',
  kafkaController: 'SYNCLINE_KAFKA_CONTROLLER_PORT',
  mongodb: 'SYNCLINE_MONGODB_PORT',
  redis: 'SYNCLINE_REDIS_PORT',
  clusterBase: 'SYNCLINE_CLUSTER_BASE_PORT',
};

export const PORT_ENV = ENV_NAMES;

export interface StackFlags {
  stateDir?: string;
  mysqlPort?: string | number;
  kafkaPort?: string | number;
  kafkaControllerPort?: string | number;
  mongodbPort?: string | number;
  redisPort?: string | number;
  clusterBasePort?: string | number;
  sparkWorkers?: string | number;
  sparkWorkerCores?: string | number;
  sparkWorkerMemory?: string;
  kafkaBrokers?: string | number;
  startTimeout?: string | number;
  only?: string;
}

function parsePort(value: string | number, what: string): number {
  const port = typeof value === 'number' ? value : Number.parseInt(value, 10);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || String(port) !== String(value).trim()) {
    throw new Error(`${what}: "${value}" is not a port number (1-65535)`);
  }
  return port;
}

export function optionsFile(stateDir: string): string {
  return join(stateDir, 'stack-options.json');
}

/**
 * Resolves the stack options once: flag, then environment, then what the last `stack up` in this
 * state dir used (so `status` and `down` find a stack started on custom ports), then defaults.
 */
export function resolveStackOptions(flags: StackFlags, env: NodeJS.ProcessEnv = process.env): StackOptions {
  const stateDir = resolve(flags.stateDir ?? env.SYNCLINE_STATE_DIR ?? '.syncline');
  let saved: Partial<StackOptions['ports']> = {};
  let savedShape: Partial<StackOptions> = {};
  if (existsSync(optionsFile(stateDir))) {
    try {
      savedShape = JSON.parse(readFileSync(optionsFile(stateDir), 'utf8')) as Partial<StackOptions>;
      saved = savedShape.ports ?? {};
    } catch {
      saved = {};
    }
  }
  const flagValues: Record<keyof StackOptions['ports'], string | number | undefined> = {
    mariadb: flags.mysqlPort,
    kafka: flags.kafkaPort,
    kafkaController: flags.kafkaControllerPort,
    mongodb: flags.mongodbPort,
    redis: flags.redisPort,
    clusterBase: flags.clusterBasePort,
  };
  const ports = { ...DEFAULT_PORTS };
  for (const key of Object.keys(ports) as (keyof StackOptions['ports'])[]) {
    const flag = flagValues[key];
    const fromEnv = env[ENV_NAMES[key]];
    if (flag !== undefined) ports[key] = parsePort(flag, `port option for ${key}`);
    else if (fromEnv !== undefined && fromEnv !== '') ports[key] = parsePort(fromEnv, ENV_NAMES[key]);
    else if (typeof saved[key] === 'number') ports[key] = saved[key];
  }
  const timeoutSeconds = flags.startTimeout !== undefined ? Number(flags.startTimeout) : 120;
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new Error(`--start-timeout: "${flags.startTimeout}" is not a positive number of seconds`);
  }
  // Like the ports, the shape of the cluster is remembered, so `status` and `down` see every
  // broker and worker that `up` started.
  const sparkWorkers = count(flags.sparkWorkers, savedShape.sparkWorkers, 0, 0, 15, '--spark-workers');
  const kafkaBrokers = count(flags.kafkaBrokers, savedShape.kafkaBrokers, 1, 1, 20, '--kafka-brokers');
  const sparkWorkerCores = count(
    flags.sparkWorkerCores,
    savedShape.sparkWorkerCores,
    DEFAULT_WORKER_CORES,
    1,
    1024,
    '--spark-worker-cores',
  );
  const sparkWorkerMemory = flags.sparkWorkerMemory ?? savedShape.sparkWorkerMemory ?? '2g';
  if (!/^\d+[mg]$/.test(sparkWorkerMemory)) {
    throw new Error(`--spark-worker-memory: "${sparkWorkerMemory}" is not a size like 1024m or 2g`);
  }
  return {
    stateDir,
    host: '127.0.0.1',
    ports,
    services: parseOnly(flags.only),
    startTimeoutMs: timeoutSeconds * 1000,
    sparkWorkers,
    sparkWorkerCores,
    sparkWorkerMemory,
    kafkaBrokers,
  };
}

/**
 * Cores are task slots, not CPUs: Real-Time Mode keeps one long-running task per Kafka partition
 * of every sink query (2 sinks x tables x partitions), and those tasks mostly wait on I/O. 32 covers
 * a 4-table pipeline with 3 partitions per topic on a single surviving worker.
 */
export const DEFAULT_WORKER_CORES = 32;

function count(
  flag: string | number | undefined,
  saved: number | undefined,
  fallback: number,
  min: number,
  max: number,
  what: string,
): number {
  if (flag === undefined) return typeof saved === 'number' ? saved : fallback;
  const n = typeof flag === 'number' ? flag : Number.parseInt(flag, 10);
  if (!Number.isInteger(n) || n < min || n > max || String(n) !== String(flag).trim()) {
    throw new Error(`${what}: "${flag}" is not a whole number from ${min} to ${max}`);
  }
  return n;
}

function parseOnly(only: string | undefined): ServiceName[] {
  if (only === undefined || only.trim() === '') return [...SERVICE_NAMES];
  const names = only.split(',').map((n) => n.trim().toLowerCase());
  const unknown = names.filter((n) => !(SERVICE_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `--only: unknown service ${unknown.map((u) => `"${u}"`).join(', ')}; choose from ${SERVICE_NAMES.join(', ')}`,
    );
  }
  return names as ServiceName[];
}
