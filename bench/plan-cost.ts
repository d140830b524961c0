// The rate of one table's Spark plan alone (parse, type, check, transform; no Kafka, no sinks) on
// golden events, in the local Spark job's JVM options (`localJvmOptions`): the part of the job's per-event CPU that
// grows with the table's width.
//   npx tsx bench/plan-cost.ts [events=30000] [rounds=3] [golden event names…]
// Prints one JSON line per event: its table's column count and events/s per round (the first
// round includes the JIT's warm-up).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localJvmOptions } from '../src/spark/launcher.ts';
import { javaBinary, JVM_DIR } from '../src/stack/jvm.ts';

const [events = '30000', rounds = '3', ...names] = process.argv.slice(2);
const goldens = names.length > 0 ? names : ['all-types-insert-every-type', 'composite-key-update'];
const module = join(JVM_DIR, 'spark-job');
const built = spawnSync('mvn', ['-B', '-q', '-ntp', '-f', join(module, 'pom.xml'), 'test-compile'], {
  stdio: 'inherit',
});
if (built.status !== 0) throw new Error('mvn test-compile of jvm/spark-job failed');
const classpath = [
  join(module, 'target', 'test-classes'),
  join(module, 'target', 'classes'),
  readFileSync(join(module, 'target', 'classpath.txt'), 'utf8').trim(),
].join(':');
const run = spawnSync(
  javaBinary(),
  [...localJvmOptions('2g'), '-cp', classpath, 'dev.syncline.spark.PlanCost', events, rounds, ...goldens],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
);
if (run.status !== 0) throw new Error(`PlanCost failed:\n${run.stderr.split('\n').slice(-20).join('\n')}`);
process.stdout.write(run.stdout);
