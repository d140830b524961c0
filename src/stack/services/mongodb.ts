import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { ensureJvmModules, javaBinary, jvmClasspath } from '../jvm.ts';
import type { LocalService } from '../types.ts';
import { PORT_ENV } from '../options.ts';
import { ServiceBase } from './base.ts';

/**
 * The MongoDB wire-protocol stand-in (mongo-java-server with its H2 MVStore backend) for local use.
 * Real deployments point the sink at MongoDB by URL; the sink code keeps to what MongoDB does.
 */
export class MongoStandinService extends ServiceBase implements LocalService {
  readonly name = 'mongodb' as const;
  readonly group = 'mongodb' as const;
  readonly portOption = '--mongodb-port';
  readonly portEnv = PORT_ENV.mongodb;

  get port(): number {
    return this.opts.ports.mongodb;
  }

  url(): string {
    return `mongodb://${this.opts.host}:${this.port}`;
  }

  async prepare(): Promise<void> {
    ensureJvmModules(['mongo-standin'], (line) => process.stderr.write(`stack: ${line}\n`));
    this.ensureDirs();
  }

  async command() {
    return {
      cmd: javaBinary(),
      args: [
        '-Xms128m',
        // A sixth of the heap becomes the store's page cache and a third may hold pages changed
        // since the last checkpoint, both counted in estimated heap bytes (docs/decisions/0050,
        // 0075, 0095); the rest is the server's own work. The heap is reserved, not taken: the
        // bench's 1,000,000 rows used up to 4.5 GB, the demo far less.
        '-Xmx6g',
        '-XX:+UseG1GC',
        '-cp',
        jvmClasspath('mongo-standin'),
        'dev.syncline.mongo.MongoStandin',
        '--host',
        this.opts.host,
        '--port',
        String(this.port),
        '--data-file',
        join(this.dataDir(), 'mongo.mv'),
      ],
    };
  }

  async health(): Promise<void> {
    const client = new MongoClient(this.url(), {
      serverSelectionTimeoutMS: 1000,
      connectTimeoutMS: 1000,
      directConnection: true,
    });
    try {
      await client.connect();
      await client.db('admin').command({ ping: 1 });
    } finally {
      await client.close();
    }
  }
}
