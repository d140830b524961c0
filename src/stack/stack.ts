import { mkdirSync, writeFileSync } from 'node:fs';
import { StackError } from './errors.ts';
import { ensureJvmModules } from './jvm.ts';
import { optionsFile } from './options.ts';
import { stackUrlsFile } from './urls.ts';
import {
  dirSize,
  errorText,
  isAlive,
  ownedPid,
  portIsFree,
  removeFile,
  spawnDetached,
  stopProcess,
  tail,
  waitFor,
  withTimeout,
} from './process.ts';
import { KafkaService } from './services/kafka.ts';
import { MariaDbService } from './services/mariadb.ts';
import { MongoStandinService } from './services/mongodb.ts';
import { RedisService } from './services/redis.ts';
import { SparkMasterService, SparkWorkerService, sparkDriverUiPort } from './services/spark.ts';
import type { LocalService, ServiceName, ServiceStatus, StackOptions, StackUrls } from './types.ts';

type Service = LocalService & { home(): string; pidFile(): string };

function allServices(opts: StackOptions): Service[] {
  const brokers = Array.from({ length: opts.kafkaBrokers - 1 }, (_, i) => new KafkaService(opts, i + 2));
  const spark =
    opts.sparkWorkers > 0
      ? [
          new SparkMasterService(opts),
          ...Array.from({ length: opts.sparkWorkers }, (_, i) => new SparkWorkerService(opts, i + 1)),
        ]
      : [];
  return [
    new MariaDbService(opts),
    new KafkaService(opts),
    ...brokers,
    new MongoStandinService(opts),
    new RedisService(opts),
    ...spark,
  ];
}

/** The processes selected by `--only` (all of them by default). */
export function stackServices(opts: StackOptions): Service[] {
  return allServices(opts).filter((s) => opts.services.includes(s.group));
}

export { readStackUrls, stackUrlsFile } from './urls.ts';

function urlsOf(opts: StackOptions): StackUrls {
  const services = allServices(opts);
  const by = (name: string) => services.find((s) => s.name === name)!.url();
  const urls: StackUrls = {
    mysql: by('mariadb'),
    kafka: services
      .filter((s) => s.group === 'kafka')
      .map((s) => s.url())
      .join(','),
    mongodb: by('mongodb'),
    redis: by('redis'),
  };
  const master = services.find((s) => s.name === 'spark-master');
  if (master)
    urls.spark = {
      master: master.url(),
      statusUrl: master.statusUrl!(),
      driverApiUrl: `http://${opts.host}:${sparkDriverUiPort(opts)}/api/v1`,
      workers: opts.sparkWorkers,
    };
  return urls;
}

// Every process we start carries its own home folder in its command line; `down` and `status`
// only ever touch a pid whose command line still carries it.
function owned(service: Service): number | null {
  return ownedPid(service.pidFile(), service.home());
}

// Something that accepts connections but is not the expected service may never answer.
const HEALTH_CHECK_TIMEOUT_MS = 5000;

function checkHealth(service: LocalService): Promise<void> {
  return withTimeout(service.health(), HEALTH_CHECK_TIMEOUT_MS, `${service.name} health check`);
}

async function healthy(service: LocalService): Promise<boolean> {
  try {
    await checkHealth(service);
    return true;
  } catch {
    return false;
  }
}

export interface UpResult {
  services: ServiceStatus[];
  urls: StackUrls;
  started: ServiceName[];
}

/**
 * Starts what is not running yet and waits until every service answers a real request.
 * Idempotent: a healthy service is left alone, a dead pid is restarted.
 */
export async function stackUp(opts: StackOptions, log: (line: string) => void = () => {}): Promise<UpResult> {
  mkdirSync(opts.stateDir, { recursive: true });
  const services = stackServices(opts);
  const started: ServiceName[] = [];

  // Decide per service before doing anything slow, so a port conflict fails fast.
  const plan = new Map<string, 'keep' | 'start' | 'external'>();
  for (const service of services) {
    const pid = owned(service);
    if (pid !== null) {
      plan.set(service.name, 'keep');
      continue;
    }
    const ports = [
      { port: service.port, option: service.portOption, env: service.portEnv },
      ...(service.extraPorts?.() ?? []),
    ];
    let external = false;
    for (const { port, option, env } of ports) {
      if (await portIsFree(opts.host, port)) continue;
      if (port === service.port && (await healthy(service))) {
        external = true;
        continue;
      }
      throw new StackError(
        'STACK_PORT_IN_USE',
        `${service.name}: port ${port} on ${opts.host} is already in use by another process. To fix: stop that process, or choose another port with ${option} <port> (or the environment variable ${env}).`,
      );
    }
    plan.set(service.name, external ? 'external' : 'start');
  }
  writeFileSync(
    optionsFile(opts.stateDir),
    `${JSON.stringify(
      {
        ports: opts.ports,
        sparkWorkers: opts.sparkWorkers,
        sparkWorkerCores: opts.sparkWorkerCores,
        sparkWorkerMemory: opts.sparkWorkerMemory,
        kafkaBrokers: opts.kafkaBrokers,
      },
      null,
      2,
    )}\n`,
  );

  // Installing packages and building jars are not safe to run in parallel: do them in order.
  const toStart = services.filter((s) => plan.get(s.name) === 'start');
  const jvmModules = toStart.flatMap((s) =>
    s.group === 'kafka'
      ? (['kafka-runtime'] as const)
      : s.group === 'mongodb'
        ? (['mongo-standin'] as const)
        : s.group === 'spark'
          ? (['spark-runtime'] as const)
          : [],
  );
  if (jvmModules.length > 0) ensureJvmModules([...new Set(jvmModules)], log);
  for (const service of toStart) await service.prepare();

  await Promise.all(
    services.map(async (service) => {
      const action = plan.get(service.name);
      if (action === 'external') {
        log(`${service.name}: reusing the service already answering at ${service.url()}`);
        return;
      }
      let pid = owned(service);
      if (action === 'start') {
        const { cmd, args, env } = await service.command();
        log(`${service.name}: starting on port ${service.port}`);
        pid = spawnDetached(cmd, args, {
          logFile: service.logFile(),
          pidFile: service.pidFile(),
          cwd: service.home(),
          ...(env ? { env } : {}),
        });
        if (!started.includes(service.group)) started.push(service.group);
      }
      const alivePid = pid;
      try {
        await waitFor(() => checkHealth(service), {
          timeoutMs: opts.startTimeoutMs,
          intervalMs: 300,
          stillAlive: () => alivePid !== null && isAlive(alivePid),
        });
      } catch (err) {
        throw new StackError(
          'STACK_START_TIMEOUT',
          `${service.name} did not become healthy at ${service.url()}: ${errorText(err)}\n--- last lines of ${service.logFile()} ---\n${tail(service.logFile())}`,
        );
      }
      log(`${service.name}: healthy at ${service.url()}`);
    }),
  );

  const urls = urlsOf(opts);
  writeFileSync(stackUrlsFile(opts.stateDir), `${JSON.stringify(urls, null, 2)}\n`);
  return { services: await stackStatus(opts), urls, started };
}

export interface DownResult {
  stopped: { name: string; pid: number; how: 'terminated' | 'killed' }[];
}

/** Stops only the processes this stack started (pid file + matching command line). */
export async function stackDown(
  opts: StackOptions,
  log: (line: string) => void = () => {},
): Promise<DownResult> {
  const services = stackServices(opts);
  const stopped: DownResult['stopped'] = [];
  // Workers first: a worker that outlives its master keeps retrying to register, and its
  // executors are stopped by the worker itself.
  const workers = services.filter((s) => s.name.startsWith('spark-worker-'));
  const rest = services.filter((s) => !s.name.startsWith('spark-worker-'));
  for (const group of [workers, rest]) await stopAll(group, stopped, log);
  return { stopped };
}

async function stopAll(services: Service[], stopped: DownResult['stopped'], log: (line: string) => void) {
  await Promise.all(
    services.map(async (service) => {
      const pid = owned(service);
      if (pid !== null) {
        log(`${service.name}: stopping pid ${pid}`);
        const how = await stopProcess(pid);
        stopped.push({ name: service.name, pid, how });
      }
      removeFile(service.pidFile());
    }),
  );
}

export async function stackStatus(opts: StackOptions): Promise<ServiceStatus[]> {
  const services = stackServices(opts);
  return Promise.all(
    services.map(async (service): Promise<ServiceStatus> => {
      const pid = owned(service);
      let state: ServiceStatus['state'];
      if (pid !== null) state = (await healthy(service)) ? 'running' : 'unhealthy';
      else if (!(await portIsFree(opts.host, service.port)) && (await healthy(service))) state = 'external';
      else state = 'stopped';
      return {
        name: service.name,
        group: service.group,
        url: service.url(),
        ...(service.statusUrl ? { statusUrl: service.statusUrl() } : {}),
        state,
        pid,
        dataBytes: dirSize(service.dataDir()),
        dataDir: service.dataDir(),
        logFile: service.logFile(),
      };
    }),
  );
}
