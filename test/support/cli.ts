// How tests and benchmarks start the real CLI: this checkout's source through tsx, with a config
// file and a state folder of their own.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';

export const CLI = join(PROJECT_ROOT, 'src', 'cli', 'main.ts');

/** Arguments for `node <these> …`: `syncline --config <file> --state-dir <dir> <args>`. */
export function cliArgs(configFile: string, stateDir: string, args: string[]): string[] {
  return ['--import', 'tsx', CLI, '--config', configFile, '--state-dir', stateDir, ...args];
}
