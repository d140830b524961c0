import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { ensureBinaries, findBinary } from '../os-packages.ts';
import type { LocalService } from '../types.ts';
import { PORT_ENV } from '../options.ts';
import { ServiceBase } from './base.ts';

export class RedisService extends ServiceBase implements LocalService {
  readonly name = 'redis' as const;
  readonly group = 'redis' as const;
  readonly portOption = '--redis-port';
  readonly portEnv = PORT_ENV.redis;

  get port(): number {
    return this.opts.ports.redis;
  }

  url(): string {
    return `redis://${this.opts.host}:${this.port}`;
  }

  async prepare(): Promise<void> {
    ensureBinaries({ binaries: ['redis-server'], packages: ['redis-server'], service: 'Redis' });
    this.ensureDirs();
    // Append-only file with fsync every second: a SIGKILL of Redis loses at most the last second,
    // which the version-guarded sinks re-apply from Kafka on replay.
    const conf = [
      `bind ${this.opts.host}`,
      `port ${this.port}`,
      'protected-mode no',
      'daemonize no',
      `dir ${this.dataDir()}`,
      'appendonly yes',
      'appendfsync everysec',
      'save ""',
      'loglevel notice',
      // Keep the command line (with this config path) intact: `down` identifies our process by it.
      'set-proc-title no',
    ].join('\n');
    writeFileSync(this.confFile(), `${conf}\n`);
  }

  private confFile(): string {
    return join(this.home(), 'redis.conf');
  }

  async command() {
    return { cmd: findBinary('redis-server') ?? 'redis-server', args: [this.confFile()] };
  }

  async health(): Promise<void> {
    const client = createClient({
      url: this.url(),
      socket: { connectTimeout: 1000, reconnectStrategy: false },
    });
    client.on('error', () => {});
    try {
      await client.connect();
      const pong = await client.ping();
      if (pong !== 'PONG') throw new Error(`unexpected PING answer ${String(pong)}`);
    } finally {
      // destroy, not close: a peer that is not Redis may never answer a polite QUIT.
      client.destroy();
    }
  }
}
