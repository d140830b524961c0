/**
 * Two source databases with the same table names, synced one after the other into one MongoDB
 * server and one Redis with the default layout, as a user with a staging and a production copy of
 * one schema would. Both must verify exact, and the second must not disturb the first: every source
 * numbers its changes from 1, so entries that met would compare each other's versions (issue 11).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connect } from '../../src/mysql/connect.ts';
import { createDemoSchema, seedDemo } from '../../src/mysql/demo/seed.ts';
import { runWorkload } from '../../src/mysql/demo/workload.ts';
import {
  dropPipeline,
  startRun,
  verifyPipeline,
  writeDefaultConfig,
  type PipelineFiles,
} from '../support/pipeline.ts';
import { getStack, uniqueName } from '../support/stack.ts';

const sources: PipelineFiles[] = [];

async function source(prefix: string, seed: number): Promise<PipelineFiles & { database: string }> {
  const stack = await getStack();
  const database = uniqueName(prefix);
  const conn = await connect({ url: stack.mysqlUrl });
  try {
    await createDemoSchema(conn, database, { reset: true });
    await seedDemo(conn, database, 2000, seed);
  } finally {
    await conn.end();
  }
  const files = writeDefaultConfig(stack, database, 'two');
  sources.push(files);
  return { ...files, database };
}

after(async () => {
  for (const files of sources) await dropPipeline(files);
});

test('two source databases with the same tables share MongoDB and Redis with the default layout, and both verify exact', async () => {
  const stack = await getStack();
  const a = await source('two_a', 11);
  const b = await source('two_b', 12);
  for (const s of [a, b]) {
    const run = startRun(s);
    try {
      await run.started();
      const work = await runWorkload({
        target: { url: stack.mysqlUrl },
        database: s.database,
        ratePerSecond: 150,
        connections: 3,
        durationMs: 10_000,
        seed: s === a ? 5 : 6,
      });
      assert.ok(work.transactions > 300, 'the writers really wrote');
      const v = verifyPipeline(s, true);
      if (!v.inSync) console.log(`# run's last output:\n${run.tail()}`);
      assert.equal(v.inSync, true, `${s.database}: ${v.lines.join('; ')} ${v.stderr}`);
    } finally {
      await run.stop();
    }
  }
  // The second source's writes, versions and tombstones must have left the first one's copy alone.
  const again = verifyPipeline(a, false);
  assert.equal(again.inSync, true, `${a.database} after ${b.database} ran: ${again.lines.join('; ')}`);
});
