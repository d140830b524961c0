// Where the local stack writes the URLs the rest of the CLI (and the tests) read by default. A
// module of its own so that reading them does not load the service code.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackUrls } from './types.ts';

export function stackUrlsFile(stateDir: string): string {
  return join(stateDir, 'stack.json');
}

/** The URLs of the last `stack up` in this state dir; null when there is none (or it is unreadable). */
export function readStackUrls(stateDir: string): StackUrls | null {
  const file = stackUrlsFile(stateDir);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackUrls;
  } catch {
    return null;
  }
}
