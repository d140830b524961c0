// What one acknowledged write costs the MongoDB stand-in, on a large collection, per kind of
// write the sinks send: bulks of replace by _id, guarded replaces and updates
// ({_id, "_sync.v": {$lt: v}}), guarded upserts, inserts, and `$in` reads of the same size.
// Runs a private stand-in (own port, own data file); with --compare-classes DIR it also runs
// another build of the launcher (e.g. the previous commit's classes) on a store it loads itself
// with the same documents, so both columns come from one run.
//
//   npx tsx bench/standin-cost.ts [--docs 1000000] [--bulk 500] [--rounds 5] [--compare-classes DIR]
//                                 [--sustained SECONDS] [--rate WRITES_PER_S] [--cache-mb MB]
//                                 [--standin-args="--checkpoint-ms 10000"] [--classes DIR]
//
// --sustained adds a phase the per-bulk figures miss: guarded replaces of random documents, 4 bulks
// of 100 in flight, for that long, through the store's checkpoints (every 60 s by default),
// reported as the stand-in's CPU per write. A checkpoint writes every page changed since the last
// one, which is most of what random writes to a large collection cost (decisions 0090, 0093).
// With --rate the bulks are of 25 and paced to that many writes a second, as the sink sends them
// under the bench's loads: a checkpoint then writes a whole page for few changes, which flat out
// hides. --cache-mb starts both builds with a smaller page cache, so that 1,000,000 documents
// outgrow it as the bench's 1,000,000 rows (with more fields) outgrow the default one.
// --standin-args takes its value after '=' (it starts with '--'); --classes runs the measured
// build from those classes instead of the launcher's jar.
//
// Prints one JSON object on stdout. Reports; asserts nothing.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { MongoClient, type AnyBulkWriteOperation, type Collection } from 'mongodb';
import { cpuOf } from './cpu.ts';
import { startStandin } from './standin-process.ts';

const { values: args } = parseArgs({
  options: {
    docs: { type: 'string', default: '1000000' },
    bulk: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '5' },
    'compare-classes': { type: 'string' },
    // Keeps the loaded store in this file, or reuses it when it exists (loading 1,000,000
    // documents takes minutes).
    data: { type: 'string' },
    sustained: { type: 'string', default: '0' },
    'cache-mb': { type: 'string' },
    rate: { type: 'string', default: '0' },
    'standin-args': { type: 'string', default: '' },
    classes: { type: 'string' },
  },
});
const DOCS = Number(args.docs);
const BULK = Number(args.bulk);
const ROUNDS = Number(args.rounds);
const SUSTAINED_S = Number(args.sustained);
const RATE = Number(args.rate);
const STANDIN_ARGS = [
  ...(args['cache-mb'] ? ['--cache-mb', args['cache-mb']] : []),
  ...args['standin-args'].split(' ').filter(Boolean),
];
const log = (line: string) => process.stderr.write(`bench standin-cost: ${line}\n`);

interface Doc {
  _id: number;
  status: string;
  total: number;
  notes: string;
  _sync: { v: number; ts: Date };
}
const doc = (id: number, v: number): Doc => ({
  _id: id,
  status: v % 2 ? 'shipped' : 'paid',
  total: 123.45 + (v % 100),
  notes: `note ${v}`,
  _sync: { v, ts: new Date() },
});

let rng = 12345;
const random = (n: number) => {
  rng = (rng * 1103515245 + 12345) % 2 ** 31;
  return rng % n;
};
// Versions above any an earlier run on the same --data file wrote, one per bulk (a run uses far
// fewer than ten per millisecond): the guards must match.
let v = Date.now() * 10;

/** The sink's write for an update: a replace under its version guard. */
const guardedReplace = (id: number, version: number, upsert = false): AnyBulkWriteOperation<Doc> => {
  const { _id, ...body } = doc(id, version);
  void _id;
  return { replaceOne: { filter: { _id: id, '_sync.v': { $lt: version } }, replacement: body, upsert } };
};

const randomIds = (n: number) => {
  const set = new Set<number>();
  while (set.size < n) set.add(random(DOCS));
  return [...set];
};

async function load(url: string): Promise<number> {
  const client = new MongoClient(url, { directConnection: true });
  await client.connect();
  const coll = client.db('cost').collection<Doc>('docs');
  const t0 = performance.now();
  for (let i = 0; i < DOCS; i += 1000) {
    await coll.insertMany(
      Array.from({ length: Math.min(1000, DOCS - i) }, (_, j) => doc(i + j, 1)),
      { ordered: false },
    );
    if (i % 200_000 === 0 && i) log(`loaded ${i}`);
  }
  const ms = performance.now() - t0;
  await client.close();
  return Math.round((DOCS * 1000) / ms);
}

type Kind = 'replaceById' | 'guardedReplace' | 'guardedUpdate' | 'guardedUpsert' | 'insert' | 'inRead';
const KINDS: Kind[] = ['inRead', 'replaceById', 'guardedReplace', 'guardedUpdate', 'guardedUpsert', 'insert'];

async function measure(
  url: string,
  pid: number,
): Promise<Record<Kind, { size: number; msPerBulk: number; usPerDoc: number }>> {
  const client = new MongoClient(url, { directConnection: true });
  await client.connect();
  const coll = client.db('cost').collection<Doc>('docs');
  let nextNew = DOCS + 1_000_000 * Math.floor(Math.random() * 1000);
  const one = async (kind: Kind, size: number): Promise<number> => {
    const ids = randomIds(size);
    v++;
    const t0 = performance.now();
    if (kind === 'inRead') {
      const found = await coll
        .find({ _id: { $in: ids } }, { projection: { '_sync.v': 1 } })
        .batchSize(size + 1)
        .toArray();
      if (found.length !== size) throw new Error(`$in found ${found.length} of ${size}`);
    } else if (kind === 'insert') {
      await coll.insertMany(
        Array.from({ length: size }, () => doc(nextNew++, v)),
        { ordered: false },
      );
    } else {
      const ops: AnyBulkWriteOperation<Doc>[] = ids.map((id) => {
        if (kind !== 'replaceById' && kind !== 'guardedUpdate')
          return guardedReplace(id, v, kind === 'guardedUpsert');
        const { _id, ...body } = doc(id, v);
        void _id;
        if (kind === 'replaceById') return { replaceOne: { filter: { _id: id }, replacement: body } };
        return { updateOne: { filter: { _id: id, '_sync.v': { $lt: v } }, update: { $set: body } } };
      });
      const r = await coll.bulkWrite(ops, { ordered: false });
      if (r.matchedCount !== size) throw new Error(`${kind}: matched ${r.matchedCount} of ${size}`);
    }
    return performance.now() - t0;
  };
  // A long-running stand-in has read its collections before: one pass over all documents puts the
  // store's page cache in that state, so the figures are steady-state ones, not a cold start's.
  const w0 = performance.now();
  let seen = 0;
  for await (const d of coll.find({}, { projection: { '_sync.v': 1 }, batchSize: 10_000 })) if (d) seen++;
  const warmUpMs = Math.round(performance.now() - w0);
  log(`warm-up read of ${seen} documents: ${warmUpMs} ms`);
  const out = {} as Record<Kind, { size: number; msPerBulk: number; usPerDoc: number }> & {
    warmUpReadMs?: number;
    sustained?: Awaited<ReturnType<typeof sustained>>;
  };
  out.warmUpReadMs = warmUpMs;
  for (const kind of KINDS) {
    // A scan per write would make a bulk of 500 take minutes on a large collection: size the bulk
    // from one probe so each kind costs seconds, and report per document.
    const probe = await one(kind, 1);
    const size = probe > 50 ? Math.max(1, Math.min(BULK, Math.floor(5000 / probe))) : BULK;
    const times: number[] = [];
    // A kind that scans gets one round: its figure is clear and each round takes seconds.
    const rounds = probe > 2000 ? 1 : ROUNDS;
    for (let r = 0; r < rounds; r++) times.push(await one(kind, size));
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    out[kind] = { size, msPerBulk: +median.toFixed(1), usPerDoc: Math.round((median * 1000) / size) };
    log(`${kind}: ${JSON.stringify(out[kind])}`);
  }
  if (SUSTAINED_S > 0) out.sustained = await sustained(coll, pid);
  await client.close();
  return out;
}

async function sustained(
  coll: Collection<Doc>,
  pid: number,
): Promise<{ seconds: number; writesPerSecond: number; cpuUsPerWrite: number; coresUsed: number }> {
  const bulk = RATE > 0 ? 25 : 100;
  const until = performance.now() + SUSTAINED_S * 1000;
  const cpu0 = cpuOf(pid);
  const t0 = performance.now();
  let writes = 0;
  const worker = async (w: number) => {
    let next = performance.now() + (w * 1000 * bulk) / Math.max(RATE, 1);
    while (performance.now() < until) {
      if (RATE > 0) {
        // 4 workers, each a bulk every 4 × bulk / RATE seconds.
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        next += (4 * 1000 * bulk) / RATE;
      }
      const version = ++v;
      const ops = randomIds(bulk).map((id) => guardedReplace(id, version));
      await coll.bulkWrite(ops, { ordered: false });
      writes += ops.length;
    }
  };
  await Promise.all([worker(0), worker(1), worker(2), worker(3)]);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuOf(pid) - cpu0;
  const result = {
    seconds: +seconds.toFixed(1),
    writesPerSecond: Math.round(writes / seconds),
    cpuUsPerWrite: Math.round((cpu * 1e6) / writes),
    coresUsed: +(cpu / seconds).toFixed(2),
  };
  log(`sustained guarded replaces: ${JSON.stringify(result)}`);
  return result;
}

const dir = mkdtempSync(join(tmpdir(), 'syncline-standin-cost-'));
const started: Awaited<ReturnType<typeof startStandin>>[] = [];
const track = async (p: Promise<Awaited<ReturnType<typeof startStandin>>>) => {
  const s = await p;
  started.push(s);
  return s;
};
try {
  const dataFile = args.data ?? join(dir, 'current.mv');
  let loadDocsPerSecond: number | null = null;
  let standin: Awaited<ReturnType<typeof startStandin>>;
  if (!args.data || !existsSync(args.data)) {
    standin = await track(startStandin(dataFile));
    log(`loading ${DOCS} documents`);
    loadDocsPerSecond = await load(standin.url);
    await standin.stop();
  }
  const result: Record<string, unknown> = { docs: DOCS, bulk: BULK, rounds: ROUNDS, loadDocsPerSecond };
  if (args['compare-classes']) {
    // The other build loads a store of its own: two builds need not read each other's files
    // (decision 0075 changed the format).
    standin = await track(startStandin(join(dir, 'compare.mv'), { classes: args['compare-classes'] }));
    log(`compare build (${args['compare-classes']}): loading ${DOCS} documents`);
    const compareLoad = await load(standin.url);
    await standin.stop();
    standin = await track(
      startStandin(join(dir, 'compare.mv'), { classes: args['compare-classes'], args: STANDIN_ARGS }),
    );
    result.compare = { loadDocsPerSecond: compareLoad, ...(await measure(standin.url, standin.pid)) };
    await standin.stop();
  }
  // STANDIN_JVM_ARGS, e.g. a flight recording, applies to the current build's measured run only.
  const jvmArgs = process.env.STANDIN_JVM_ARGS?.split(' ').filter(Boolean);
  standin = await track(
    startStandin(dataFile, {
      args: STANDIN_ARGS,
      ...(jvmArgs ? { jvmArgs } : {}),
      ...(args.classes ? { classes: args.classes } : {}),
    }),
  );
  log('current build');
  result.current = await measure(standin.url, standin.pid);
  await standin.stop();
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const s of started) await s.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
