/**
 * The small round of the chaos suite that runs in `npm test`: the relay SIGKILLed, the Kafka
 * broker SIGKILLed and restarted, Redis paused with SIGSTOP; each round ends with verify finding
 * no divergent row and no duplicate (the Spark driver's SIGKILL has its own test,
 * test/integration/spark-crash.test.ts), and the same for binlog capture with its reader SIGKILLed
 * and MariaDB restarted. The full suite: `npm run test:chaos` (SYNCLINE_CHAOS_CAPTURE=binlog).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRounds, runChaos } from '../support/chaos.ts';

test(
  'small chaos round: relay and Kafka killed, Redis paused; the sinks converge every time',
  { timeout: 1800_000 },
  async () => {
    const results = await runChaos({
      faults: ['relay', 'kafka', 'sigstop-redis'],
      rounds: 1,
      seedRows: 2000,
      writeSeconds: 10,
    });
    console.log(formatRounds(results).replace(/^/gm, '# '));
    assert.deepEqual(
      results.filter((r) => !r.inSync),
      [],
    );
  },
);

test(
  'small chaos round with binlog capture: the binlog reader SIGKILLed and MariaDB restarted; the sinks converge every time',
  { timeout: 1800_000 },
  async () => {
    const results = await runChaos({
      faults: ['relay', 'mariadb'],
      rounds: 1,
      seedRows: 2000,
      writeSeconds: 10,
      capture: 'binlog',
    });
    console.log(formatRounds(results).replace(/^/gm, '# '));
    assert.deepEqual(
      results.filter((r) => !r.inSync),
      [],
    );
  },
);
