import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { StackError } from '../errors.ts';
import { ensureJvmModules, javaBinary, jvmClasspath } from '../jvm.ts';
import type { LocalService } from '../types.ts';
import { PORT_ENV } from '../options.ts';
import { ServiceBase } from './base.ts';

/** Kafka 4 in KRaft mode: one process that is both broker and controller, on loopback. */
export class KafkaService extends ServiceBase implements LocalService {
  readonly name = 'kafka' as const;
  readonly portOption = '--kafka-port';
  readonly portEnv = PORT_ENV.kafka;

  get port(): number {
    return this.opts.ports.kafka;
  }

  url(): string {
    return `${this.opts.host}:${this.port}`;
  }

  extraPorts() {
    return [
      {
        port: this.opts.ports.kafkaController,
        option: '--kafka-controller-port',
        env: PORT_ENV.kafkaController,
      },
    ];
  }

  private propertiesFile(): string {
    return join(this.home(), 'server.properties');
  }

  private log4jFile(): string {
    return join(this.home(), 'log4j2.properties');
  }

  private clusterId(): string {
    const file = join(this.home(), 'cluster-id');
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
    const controller = this.opts.ports.kafkaController;
    const props = [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${host}:${controller}`,
      `listeners=PLAINTEXT://${host}:${this.port},CONTROLLER://${host}:${controller}`,
      `advertised.listeners=PLAINTEXT://${host}:${this.port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${this.dataDir()}`,
      'num.partitions=1',
      // One broker: every internal topic must live with a replication factor of 1.
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=4',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
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
