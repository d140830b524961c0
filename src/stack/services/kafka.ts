import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { StackError } from '../errors.ts';
import { ensureJvmModules, javaBinary, jvmClasspath } from '../jvm.ts';
import type { LocalService, StackOptions } from '../types.ts';
import { PORT_ENV } from '../options.ts';
import { ServiceBase } from './base.ts';

/** The client and controller ports of KRaft node `node` (1-based) of the stack. */
export function kafkaNodePorts(opts: StackOptions, node: number): { client: number; controller: number } {
  if (node === 1) return { client: opts.ports.kafka, controller: opts.ports.kafkaController };
  const client = opts.ports.clusterBase + 40 + 2 * (node - 2);
  return { client, controller: client + 1 };
}

/**
 * Kafka 4 in KRaft mode: each process is both broker and controller, on loopback. With
 * `--kafka-brokers M` there are M of them in one quorum (a majority must live), node 1 in
 * `<state>/kafka/` as in a one-broker stack, node n in `<state>/kafka-n/`.
 */
export class KafkaService extends ServiceBase implements LocalService {
  readonly name: string;
  readonly group = 'kafka' as const;
  readonly portOption: string;
  readonly portEnv: string;

  constructor(
    opts: StackOptions,
    readonly node = 1,
  ) {
    super(opts);
    this.name = node === 1 ? 'kafka' : `kafka-${node}`;
    this.portOption = node === 1 ? '--kafka-port' : '--cluster-base-port';
    this.portEnv = node === 1 ? PORT_ENV.kafka : PORT_ENV.clusterBase;
  }

  get port(): number {
    return kafkaNodePorts(this.opts, this.node).client;
  }

  url(): string {
    return `${this.opts.host}:${this.port}`;
  }

  extraPorts() {
    return [
      {
        port: kafkaNodePorts(this.opts, this.node).controller,
        option: this.node === 1 ? '--kafka-controller-port' : '--cluster-base-port',
        env: this.node === 1 ? PORT_ENV.kafkaController : PORT_ENV.clusterBase,
      },
    ];
  }

  private voters(): string {
    const out: string[] = [];
    for (let n = 1; n <= this.opts.kafkaBrokers; n += 1) {
      out.push(`${n}@${this.opts.host}:${kafkaNodePorts(this.opts, n).controller}`);
    }
    return out.join(',');
  }

  /** Every node shares the cluster id that node 1's home keeps. */
  private clusterHome(): string {
    return join(this.opts.stateDir, 'kafka');
  }

  private propertiesFile(): string {
    return join(this.home(), 'server.properties');
  }

  private log4jFile(): string {
    return join(this.home(), 'log4j2.properties');
  }

  private clusterId(): string {
    mkdirSync(this.clusterHome(), { recursive: true });
    const file = join(this.clusterHome(), 'cluster-id');
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    // Kafka cluster ids are 16 random bytes in URL-safe base64 without padding. One that starts
    // with '-' reads as an option to the storage tool (seen: "--cluster-id expected one
    // argument"); Kafka's own generator avoids those too.
    let id = randomBytes(16).toString('base64url');
    while (id.startsWith('-')) id = randomBytes(16).toString('base64url');
    writeFileSync(file, `${id}\n`);
    return id;
  }

  async prepare(): Promise<void> {
    ensureJvmModules(['kafka-runtime'], (line) => process.stderr.write(`stack: ${line}\n`));
    this.ensureDirs();
    const host = this.opts.host;
    const controller = kafkaNodePorts(this.opts, this.node).controller;
    const voters = this.voters();
    this.checkQuorumUnchanged(voters);
    // Replicated internal topics once there are brokers to hold the copies: RF 3 with 2 in sync,
    // so one broker may die without losing an acknowledged write or stopping writes. With 2
    // brokers, 2 in sync would stop writes when either dies: 1 then.
    const rf = Math.min(3, this.opts.kafkaBrokers);
    const isr = rf >= 3 ? 2 : 1;
    const props = [
      'process.roles=broker,controller',
      `node.id=${this.node}`,
      `controller.quorum.voters=${voters}`,
      `listeners=PLAINTEXT://${host}:${this.port},CONTROLLER://${host}:${controller}`,
      `advertised.listeners=PLAINTEXT://${host}:${this.port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${this.dataDir()}`,
      'num.partitions=1',
      `default.replication.factor=${rf}`,
      `min.insync.replicas=${isr}`,
      `offsets.topic.replication.factor=${rf}`,
      'offsets.topic.num.partitions=4',
      `transaction.state.log.replication.factor=${rf}`,
      `transaction.state.log.min.isr=${isr}`,
      `share.coordinator.state.topic.replication.factor=${rf}`,
      `share.coordinator.state.topic.min.isr=${isr}`,
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      // Rows with multi-MB BLOB/JSON values must fit in one message.
      'message.max.bytes=16777216',
      'replica.fetch.max.bytes=16777216',
      'log.retention.hours=168',
      'log.segment.bytes=268435456',
      '',
    ].join('\n');
    writeFileSync(this.propertiesFile(), props);
    writeFileSync(
      this.log4jFile(),
      [
        'status = warn',
        'appender.out.type = Console',
        'appender.out.name = out',
        'appender.out.layout.type = PatternLayout',
        'appender.out.layout.pattern = [%d] %p %m (%c)%n',
        'rootLogger.level = warn',
        'rootLogger.appenderRef.out.ref = out',
        // The line that says the broker is up is worth keeping in the log.
        'logger.server.name = kafka.server.KafkaRaftServer',
        'logger.server.level = info',
        '',
      ].join('\n'),
    );
    if (!existsSync(join(this.dataDir(), 'meta.properties'))) {
      const result = spawnSync(
        javaBinary(),
        [
          ...this.jvmArgs(),
          'kafka.tools.StorageTool',
          'format',
          '-t',
          this.clusterId(),
          '-c',
          this.propertiesFile(),
          '--ignore-formatted',
        ],
        { encoding: 'utf8' },
      );
      if (result.status !== 0) {
        throw new StackError(
          'STACK_INIT_FAILED',
          `Kafka: formatting the KRaft storage in ${this.dataDir()} failed:\n${(result.stderr || result.stdout).trim().slice(-1500)}`,
        );
      }
    }
  }

  /**
   * A KRaft log formatted for a quorum of one size does not join a quorum of another: a stack
   * first started with a different `--kafka-brokers` has to be wiped, which is the user's call (it
   * holds their topics). Ports may change: voters are known by node id.
   */
  private checkQuorumUnchanged(voters: string): void {
    const file = join(this.home(), 'quorum');
    const nodes = voters.split(',').length;
    if (existsSync(join(this.dataDir(), 'meta.properties'))) {
      // A data dir from before the file existed was formatted for the one-broker stack.
      const before = existsSync(file) ? readFileSync(file, 'utf8').trim().split(',').length : 1;
      if (before !== nodes) {
        throw new StackError(
          'STACK_KAFKA_QUORUM_CHANGED',
          `Kafka: ${this.dataDir()} was formatted for ${before} broker(s), not the ${nodes} asked for now. To fix: pass --kafka-brokers ${before}, or run \`syncline stack down\` and delete ${join(this.opts.stateDir, 'kafka*')} (its topics go with it), or use another --state-dir.`,
        );
      }
    }
    writeFileSync(file, `${voters}\n`);
  }

  private jvmArgs(): string[] {
    return [
      '-Xms256m',
      '-Xmx768m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${this.log4jFile()}`,
      '-cp',
      jvmClasspath('kafka-runtime'),
    ];
  }

  async command() {
    return { cmd: javaBinary(), args: [...this.jvmArgs(), 'kafka.Kafka', this.propertiesFile()] };
  }

  async health(): Promise<void> {
    const admin = new Admin({
      clientId: 'syncline-stack-health',
      bootstrapBrokers: [this.url()],
      connectTimeout: 1000,
      retries: 0,
    });
    try {
      const metadata = await admin.metadata({ topics: [] });
      if (metadata.brokers.size === 0) throw new Error('metadata lists no broker');
    } finally {
      await admin.close();
    }
  }
}
