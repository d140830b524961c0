import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { resolveStackOptions } from '../../src/stack/options.ts';
import { readStackUrls, stackUp } from '../../src/stack/stack.ts';

/** How a test reaches the one local stack of this test run. */
export interface TestStack {
  mysqlUrl: string;
  kafkaBrokers: string[];
  mongoUrl: string;
  redisUrl: string;
  stateDir: string;
}

/** Set by test/run.ts once it has brought the stack up for the whole run. */
export const TEST_STATE_DIR_ENV = 'SYNCLINE_TEST_STATE_DIR';

let pending: Promise<TestStack> | undefined;

/**
 * The stack for this test run. Under `npm test` the runner has started it already; a test file
 * run on its own (`node --import tsx --test test/...`) starts it, or reuses a running one.
 */
export function getStack(): Promise<TestStack> {
  pending ??= (async () => {
    const stateDir = process.env[TEST_STATE_DIR_ENV] ?? join(PROJECT_ROOT, '.syncline');
    let urls = process.env[TEST_STATE_DIR_ENV] ? readStackUrls(stateDir) : null;
    if (urls === null) {
      const opts = resolveStackOptions({ stateDir });
      urls = (await stackUp(opts)).urls;
    }
    return {
      mysqlUrl: urls.mysql,
      kafkaBrokers: urls.kafka.split(','),
      mongoUrl: urls.mongodb,
      redisUrl: urls.redis,
      stateDir,
    };
  })();
  return pending;
}

let counter = 0;

/**
 * A name no other test (or earlier run) uses: safe as a MySQL database, a Kafka topic part, a
 * MongoDB database/collection and a Redis key prefix (lowercase letters, digits, underscore).
 */
export function uniqueName(prefix: string): string {
  counter += 1;
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 30);
  return `${clean}_${process.pid.toString(36)}${counter.toString(36)}_${randomBytes(3).toString('hex')}`;
}
