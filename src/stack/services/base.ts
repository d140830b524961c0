import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalService, ServiceName, StackOptions } from '../types.ts';

/** Layout shared by all services: `<stateDir>/<name>/{data/, <name>.log, <name>.pid}`. */
export abstract class ServiceBase implements Partial<LocalService> {
  abstract readonly name: string;
  abstract readonly group: ServiceName;

  constructor(protected readonly opts: StackOptions) {}

  home(): string {
    return join(this.opts.stateDir, this.name);
  }

  dataDir(): string {
    return join(this.home(), 'data');
  }

  logFile(): string {
    return join(this.home(), `${this.name}.log`);
  }

  pidFile(): string {
    return join(this.home(), `${this.name}.pid`);
  }

  protected ensureDirs(): void {
    mkdirSync(this.dataDir(), { recursive: true });
  }
}
