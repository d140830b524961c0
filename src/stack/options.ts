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
};

const ENV_NAMES: Record<keyof StackOptions['ports'], string> = {
  mariadb: 'SYNCLINE_MYSQL_PORT',
  kafka: 'SYNCLINE_KAFKA_PORT',
  kafkaController: 'SYNCLINE_KAFKA_CONTROLLER_PORT',
  mongodb: 'SYNCLINE_MONGODB_PORT',
  redis: 'SYNCLINE_REDIS_PORT',
};

export const PORT_ENV = ENV_NAMES;

export interface StackFlags {
  stateDir?: string;
  mysqlPort?: string | number;
  kafkaPort?: string | number;
  kafkaControllerPort?: string | number;
  mongodbPort?: string | number;
  redisPort?: string | number;
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
  if (existsSync(optionsFile(stateDir))) {
    try {
      saved = (JSON.parse(readFileSync(optionsFile(stateDir), 'utf8')) as StackOptions).ports ?? {};
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
  return {
    stateDir,
    host: '127.0.0.1',
    ports,
    services: parseOnly(flags.only),
    startTimeoutMs: timeoutSeconds * 1000,
  };
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
