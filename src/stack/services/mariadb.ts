import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { StackError } from '../errors.ts';
import { ensureBinaries, findBinary } from '../os-packages.ts';
import type { LocalService } from '../types.ts';
import { PORT_ENV } from '../options.ts';
import { ServiceBase } from './base.ts';

export class MariaDbService extends ServiceBase implements LocalService {
  readonly name = 'mariadb' as const;
  readonly group = 'mariadb' as const;
  readonly portOption = '--mysql-port';
  readonly portEnv = PORT_ENV.mariadb;

  get port(): number {
    return this.opts.ports.mariadb;
  }

  url(): string {
    return `mysql://root@${this.opts.host}:${this.port}`;
  }

  private confFile(): string {
    return join(this.home(), 'my.cnf');
  }

  /** Unix sockets are limited to ~107 bytes; a deep state dir falls back to TCP only. */
  private socketFile(): string {
    const inHome = join(this.home(), 'mysqld.sock');
    return inHome.length < 100 ? inHome : join('/tmp', `syncline-mysqld-${this.port}.sock`);
  }

  private runAsRootFlag(): string[] {
    // mariadbd refuses to run as root unless told to; build machines run everything as root.
    return typeof process.getuid === 'function' && process.getuid() === 0 ? ['--user=root'] : [];
  }

  async prepare(): Promise<void> {
    ensureBinaries({
      binaries: ['mariadbd', 'mariadb-install-db'],
      packages: ['mariadb-server', 'mariadb-client'],
      service: 'MariaDB',
    });
    this.ensureDirs();
    const conf = [
      '[mysqld]',
      `datadir=${this.dataDir()}`,
      `port=${this.port}`,
      `bind-address=${this.opts.host}`,
      `socket=${this.socketFile()}`,
      `pid-file=${join(this.home(), 'mysqld.pid-internal')}`,
      // Row binlog with full images and full metadata (column names in every table map): the
      // binlog capture mode needs all three (src/mysql/binlog.ts).
      'log-bin=mysql-bin',
      'binlog_format=ROW',
      'binlog_row_image=FULL',
      'binlog_row_metadata=FULL',
      'server_id=1',
      'expire_logs_days=2',
      // Triggers are created by a user without SUPER while binary logging is on.
      'log_bin_trust_function_creators=1',
      'character-set-server=utf8mb4',
      'collation-server=utf8mb4_unicode_ci',
      'skip-name-resolve',
      'max_connections=500',
      'max_allowed_packet=256M',
      'innodb_buffer_pool_size=512M',
      'innodb_log_file_size=128M',
      // A killed mariadbd loses nothing here (the OS keeps the page cache); only a machine crash
      // could lose the last second, which is the right trade for a laptop stack.
      'innodb_flush_log_at_trx_commit=2',
      'sync_binlog=0',
      'lower_case_table_names=0',
      '',
    ].join('\n');
    writeFileSync(this.confFile(), conf);
    if (!existsSync(join(this.dataDir(), 'mysql'))) {
      const installDb = findBinary('mariadb-install-db') ?? 'mariadb-install-db';
      const result = spawnSync(
        installDb,
        [
          `--defaults-file=${this.confFile()}`,
          `--datadir=${this.dataDir()}`,
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          ...this.runAsRootFlag(),
        ],
        { encoding: 'utf8' },
      );
      if (result.status !== 0) {
        throw new StackError(
          'STACK_INIT_FAILED',
          `MariaDB: mariadb-install-db failed for ${this.dataDir()}:\n${(result.stderr || result.stdout).trim().slice(-1500)}`,
        );
      }
    }
  }

  async command() {
    return {
      cmd: findBinary('mariadbd') ?? 'mariadbd',
      args: [`--defaults-file=${this.confFile()}`, ...this.runAsRootFlag()],
    };
  }

  async health(): Promise<void> {
    const conn = await mysql.createConnection({
      host: this.opts.host,
      port: this.port,
      user: 'root',
      connectTimeout: 1000,
    });
    try {
      await conn.query('SELECT 1');
    } finally {
      await conn.end();
    }
  }
}
