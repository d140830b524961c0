/**
 * `npm run test:chaos`: every process of the pipeline killed with SIGKILL at random moments
 * (5 rounds each by default, SYNCLINE_CHAOS_ROUNDS to change), plus sinks paused with SIGSTOP
 * longer than the batch interval. Every round must end with 0 divergent rows and no duplicate.
 * SYNCLINE_CHAOS_CAPTURE=binlog: the same with binlog capture.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRounds, runChaos, type Fault } from '../support/chaos.ts';

const ALL: Fault[] = [
  'relay',
  'spark',
  'kafka',
  'mongodb',
  'redis',
  'mariadb',
  'sigstop-mongodb',
  'sigstop-redis',
];

test(
  'chaos: SIGKILL of relay, Spark driver, Kafka, MongoDB, Redis and MariaDB, and SIGSTOP of the sinks, round after round',
  { timeout: 4 * 3600_000 },
  async () => {
    const rounds = Number(process.env.SYNCLINE_CHAOS_ROUNDS ?? 5);
    const faults = (process.env.SYNCLINE_CHAOS_FAULTS?.split(',') as Fault[] | undefined) ?? ALL;
    // SYNCLINE_CHAOS_CAPTURE=binlog runs the same rounds with binlog capture ('relay' is the reader).
    const capture = process.env.SYNCLINE_CHAOS_CAPTURE === 'binlog' ? 'binlog' : 'trigger';
    const results = await runChaos({ faults, rounds, seedRows: 4000, writeSeconds: 15, capture });
    console.log(formatRounds(results).replace(/^/gm, '# '));
    const bad = results.filter((r) => !r.inSync);
    assert.deepEqual(bad, [], 'every round ends in sync with no duplicate');
  },
);
