/**
 * The MongoDB stand-in (jvm/mongo-standin) keeps what it acknowledged and answers the sink's
 * filters correctly. Each test runs a private stand-in (own port, own data file) so it can be
 * killed without disturbing the shared stack.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { after, describe, test } from 'node:test';
import { BSON, Double, Int32, Long, MongoClient, MongoServerError } from 'mongodb';
import { startStandin, type PrivateStandin } from '../../bench/standin-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'syncline-standin-test-'));
const running: PrivateStandin[] = [];
// A test that fails before closing its client would otherwise keep this file's process alive.
const clients: MongoClient[] = [];
after(async () => {
  for (const c of clients) await c.close(true).catch(() => undefined);
  for (const s of running) await s.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

// With checkpoints this far apart, everything a test writes, bulk inserts included (decision
// 0107), lives only in the write log when it kills the stand-in.
const NO_CHECKPOINT = ['--checkpoint-ms', '3600000'];

async function start(
  file: string,
  args: string[] = [],
): Promise<{ standin: PrivateStandin; client: MongoClient }> {
  const standin = await startStandin(join(dir, file), { args });
  running.push(standin);
  const client = new MongoClient(standin.url, { directConnection: true });
  clients.push(client);
  await client.connect();
  return { standin, client };
}

interface Doc {
  _id: number;
  v: number;
  note: string;
  _sync: { v: number };
}

describe('MongoDB stand-in', () => {
  for (const [mode, args] of [
    ['a checkpoint each second', []],
    ['no checkpoint since the start', NO_CHECKPOINT],
  ] as const)
    test(`bulk writes acknowledged before a SIGKILL are all there after a restart (${mode})`, async () => {
      const file = `killed-${args.length}.mv`;
      let { standin, client } = await start(file, [...args]);
      const coll = () => client.db('durable').collection<Doc>('docs');
      await coll().insertMany(
        Array.from({ length: 2000 }, (_, i) => ({ _id: i, v: 1, note: 'first', _sync: { v: 1 } })),
      );
      // The sink's kinds of write, each one acknowledged bulk: guarded replaces, replaces by _id,
      // deletes, and the last write lands just before the kill.
      await coll().bulkWrite(
        Array.from({ length: 500 }, (_, i) => ({
          replaceOne: {
            filter: { _id: i, '_sync.v': { $lt: 2 } },
            replacement: { v: 2, note: 'guarded', _sync: { v: 2 } },
          },
        })),
      );
      await coll().bulkWrite(
        Array.from({ length: 500 }, (_, i) => ({
          replaceOne: { filter: { _id: 500 + i }, replacement: { v: 3, note: 'by id', _sync: { v: 3 } } },
        })),
      );
      await coll().deleteMany({ _id: { $in: Array.from({ length: 100 }, (_, i) => 1000 + i) } });
      // A large insert is logged like every other write (decision 0107): 20,000 documents, then a
      // replace of each.
      const big = () => client.db('durable').collection<Doc>('big');
      await big().insertMany(
        Array.from({ length: 20_000 }, (_, i) => ({ _id: i, v: 1, note: 'first', _sync: { v: 1 } })),
      );
      await big().bulkWrite(
        Array.from({ length: 20_000 }, (_, i) => ({
          replaceOne: { filter: { _id: i }, replacement: { v: 2, note: 'replaced', _sync: { v: 2 } } },
        })),
      );
      await big().insertMany(
        Array.from({ length: 5_000 }, (_, i) => ({ _id: 20_000 + i, v: 3, note: 'late', _sync: { v: 3 } })),
      );
      await coll().insertOne({ _id: 5000, v: 4, note: 'last before the kill', _sync: { v: 4 } });
      process.kill(standin.pid, 'SIGKILL');
      await new Promise((r) => standin.proc.once('exit', r));
      await client.close().catch(() => undefined);

      ({ standin, client } = await start(file));
      const docs = await coll().find({}).sort({ _id: 1 }).toArray();
      assert.equal(docs.length, 2000 - 100 + 1);
      assert.deepEqual(
        docs.filter((d) => d._id < 500).every((d) => d.note === 'guarded' && d._sync.v === 2),
        true,
        'the guarded replaces are kept',
      );
      assert.deepEqual(
        docs.filter((d) => d._id >= 500 && d._id < 1000).every((d) => d.note === 'by id'),
        true,
        'the replaces by _id are kept',
      );
      assert.equal(docs.filter((d) => d._id >= 1000 && d._id < 1100).length, 0, 'the deletes are kept');
      assert.equal(docs.at(-1)?.note, 'last before the kill');
      const bigNotes = new Map<string, number>();
      for (const d of await big()
        .find({}, { projection: { note: 1 } })
        .toArray())
        bigNotes.set(d.note, (bigNotes.get(d.note) ?? 0) + 1);
      assert.deepEqual(Object.fromEntries(bigNotes), { replaced: 20_000, late: 5_000 });
      // The _id index came back with the documents: a lookup finds one, a repeated _id is refused.
      assert.equal((await coll().findOne({ _id: 1500 }))?.note, 'first');
      await assert.rejects(
        coll().insertOne({ _id: 5000, v: 5, note: 'again', _sync: { v: 5 } }),
        (e: unknown) => e instanceof MongoServerError && e.code === 11000,
      );
      await client.close();
    });

  for (const [mode, args] of [
    ['no checkpoint since the start', NO_CHECKPOINT],
    ['checkpoints every 20 ms between them', ['--checkpoint-ms', '20']],
  ] as const)
    test(`documents changed in place by updates, among neighbours written before and after, keep their last content across a SIGKILL (${mode})`, async () => {
      // mongo-java-server's update changes the stored document in place, and a commit writes every
      // document of a dirty page: any shortcut in how pages are written (decisions 0082 and 0093
      // tried kept BSON) must still put each document's last content on disk, whether the log or a
      // commit holds it at the kill.
      const file = `in-place-${args[1]}.mv`;
      let { standin, client } = await start(file, [...args]);
      const coll = () => client.db('inplace').collection<Doc & { n?: number }>('docs');
      const expected = new Map<number, { v: number; note: string; n?: number }>();
      await coll().insertMany(
        Array.from({ length: 3000 }, (_, i) => ({ _id: i, v: 0, note: 'seed', _sync: { v: 0 } })),
      );
      for (let i = 0; i < 3000; i++) expected.set(i, { v: 0, note: 'seed' });
      // Every document read once: a shortcut that keeps the bytes of what it reads (0082) holds them now.
      assert.equal((await coll().find({}).toArray()).length, 3000);
      for (let round = 1; round <= 6; round++) {
        const ids = Array.from({ length: 150 }, (_, i) => (i * 19 + round * 7) % 3000);
        // Updates that change the stored instance in place ($set, $inc), one command each…
        for (const id of ids.slice(0, 50)) {
          await coll().updateOne({ _id: id }, { $set: { note: `set ${round}` }, $inc: { v: 1 } });
          const e = expected.get(id)!;
          expected.set(id, { ...e, note: `set ${round}`, v: e.v + 1 });
        }
        // …a guarded update as the sink sends it, in one bulk…
        await coll().bulkWrite(
          ids.slice(50, 100).map((id) => ({
            updateOne: {
              filter: { _id: id, '_sync.v': { $lt: round } },
              update: { $set: { n: round, '_sync.v': round } },
            },
          })),
        );
        for (const id of ids.slice(50, 100)) expected.set(id, { ...expected.get(id)!, n: round });
        // …and replaces of their neighbours, so the same pages are written again after the updates.
        await coll().bulkWrite(
          ids.slice(100).map((id) => ({
            replaceOne: {
              filter: { _id: id },
              replacement: { v: round, note: `replaced ${round}`, _sync: { v: 0 } },
            },
          })),
        );
        for (const id of ids.slice(100)) expected.set(id, { v: round, note: `replaced ${round}` });
        await coll().updateOne({ _id: (round * 401) % 3000 }, { $set: { note: 'neighbour' } });
        expected.set((round * 401) % 3000, { ...expected.get((round * 401) % 3000)!, note: 'neighbour' });
      }
      process.kill(standin.pid, 'SIGKILL');
      await new Promise((r) => standin.proc.once('exit', r));
      await client.close().catch(() => undefined);

      ({ standin, client } = await start(file));
      const wrong: string[] = [];
      for (const d of await coll().find({}).toArray()) {
        const e = expected.get(d._id)!;
        const got = { v: d.v, note: d.note, ...(d.n === undefined ? {} : { n: d.n }) };
        if (JSON.stringify(got) !== JSON.stringify(e))
          wrong.push(`${d._id}: ${JSON.stringify(got)} instead of ${JSON.stringify(e)}`);
      }
      assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} documents are not as last written`);
      await client.close();
    });

  test('a filter on _id plus the version guard applies newer versions, skips older ones, and $in returns exactly the asked ids', async () => {
    const { client } = await start('guard.mv');
    const coll = client.db('guard').collection<Doc>('docs');
    await coll.insertMany(
      Array.from({ length: 5000 }, (_, i) => ({ _id: i, v: i, note: 'seed', _sync: { v: 10 } })),
    );
    const r = await coll.bulkWrite([
      {
        replaceOne: {
          filter: { _id: 7, '_sync.v': { $lt: 11 } },
          replacement: { v: 1, note: 'newer', _sync: { v: 11 } },
        },
      },
      {
        replaceOne: {
          filter: { _id: 8, '_sync.v': { $lt: 9 } },
          replacement: { v: 1, note: 'older', _sync: { v: 9 } },
        },
      },
      {
        updateOne: {
          filter: { _id: 9, '_sync.v': { $lt: 12 } },
          update: { $set: { note: 'set', '_sync.v': 12 } },
        },
      },
      {
        updateOne: { filter: { _id: 99_999, '_sync.v': { $lt: 12 } }, update: { $set: { note: 'absent' } } },
      },
    ]);
    assert.equal(r.matchedCount, 2);
    assert.equal((await coll.findOne({ _id: 7 }))?.note, 'newer');
    assert.equal((await coll.findOne({ _id: 8 }))?.note, 'seed');
    assert.equal((await coll.findOne({ _id: 9 }))?.note, 'set');
    // A guarded upsert of an older version collides with the stored _id: E11000 means "stale".
    await assert.rejects(
      coll.replaceOne(
        { _id: 7, '_sync.v': { $lt: 5 } },
        { v: 0, note: 'stale', _sync: { v: 5 } },
        { upsert: true },
      ),
      (err: unknown) => err instanceof MongoServerError && err.code === 11000,
    );
    // $in with ids present and absent, repeated, and another condition next to it.
    const found = await coll
      .find({ _id: { $in: [3, 4000, 4000, 123_456, 7] } }, { projection: { _id: 1 } })
      .toArray();
    assert.deepEqual(
      found.map((d) => d._id).sort((a, b) => a - b),
      [3, 7, 4000],
    );
    const guarded = await coll.find({ _id: { $in: [3, 7, 8] }, '_sync.v': { $gt: 10 } }).toArray();
    assert.deepEqual(
      guarded.map((d) => d._id),
      [7],
    );

    // Composite keys (documents as _id) are found, guarded and read back the same way.
    const pairs = client
      .db('guard')
      .collection<{ _id: { order: number; line: number }; q: number; _sync: { v: number } }>('lines');
    await pairs.insertMany(
      Array.from({ length: 3000 }, (_, i) => ({ _id: { order: i % 100, line: i }, q: i, _sync: { v: 1 } })),
    );
    const pr = await pairs.bulkWrite([
      {
        replaceOne: {
          filter: { _id: { order: 5, line: 105 }, '_sync.v': { $lt: 2 } },
          replacement: { q: -1, _sync: { v: 2 } },
        },
      },
      {
        replaceOne: {
          filter: { _id: { order: 6, line: 106 }, '_sync.v': { $lt: 1 } },
          replacement: { q: -1, _sync: { v: 1 } },
        },
      },
    ]);
    assert.equal(pr.matchedCount, 1);
    const lines = await pairs
      .find({
        _id: {
          $in: [
            { order: 5, line: 105 },
            { order: 6, line: 106 },
            { order: 7, line: 1 },
          ],
        },
      })
      .toArray();
    assert.deepEqual(
      lines.map((d) => [d._id.line, d.q]).sort((a, b) => a[0]! - b[0]!),
      [
        [105, -1],
        [106, 106],
      ],
    );

    await client.close();
  });

  test('an $in of plain ids finds what the general path finds, in its order and once each, whatever the id types', async () => {
    const { client } = await start('in.mv');
    const coll = client.db('in').collection<{ _id: unknown; n: number }>('mixed');
    const oids = [new BSON.ObjectId(), new BSON.ObjectId(), new BSON.ObjectId()];
    await coll.insertMany([
      ...Array.from({ length: 20 }, (_, i) => ({ _id: i + 1, n: i })),
      ...Array.from({ length: 10 }, (_, i) => ({ _id: Long.fromNumber(21 + i), n: i })),
      ...'abcdefghij'.split('').map((c, i) => ({ _id: c, n: i })),
      ...oids.map((o, i) => ({ _id: o, n: i })),
      { _id: new Double(2.5), n: 0 },
      { _id: { a: 1 }, n: 0 },
    ]);
    const asked = [
      ...[7, Long.fromNumber(7), new Int32(7)], // one key, three spellings
      ...[new Int32(25), Long.fromNumber(25)], // stored as an int64, asked as an int32 too
      ...['j', 'c', 'zz', 'c'], // a miss and a repeat
      ...[oids[2], oids[0], new BSON.ObjectId()],
      ...[99, Long.fromNumber(1234), 1, 20],
    ];
    const ids = async (values: unknown[], extra: object = {}) =>
      (
        await coll.find({ _id: { $in: values }, ...extra } as never, { projection: { _id: 1 } }).toArray()
      ).map((d) => JSON.stringify(d._id));
    // An absent double in the list sends the query down the library's general path, which sorts
    // and de-duplicates the asked values itself: the answer to compare with.
    const general = await ids([...asked, new Double(0.25)]);
    assert.deepEqual(await ids(asked), general);
    assert.equal(general.length, 8, `1, 7, 20, 25, 'c', 'j' and two ObjectIds: ${general.join(' ')}`);
    assert.deepEqual(
      await ids(asked, { n: { $lt: 5 } }),
      await ids([...asked, new Double(0.25)], { n: { $lt: 5 } }),
    );
    assert.deepEqual(await ids(['zz', 0, Long.fromNumber(-1)]), []);
    // Documents as _id and doubles stay on the general path and are still found.
    assert.deepEqual(await ids([{ a: 1 }, new Double(2.5), 3]), await ids([new Double(2.5), 3, { a: 1 }]));
    await client.close();
  });

  test('a replacement by _id keeps the _id, refuses another _id, reports unchanged documents, honours a second unique index, and collStats counts the data', async () => {
    const { client } = await start('replace.mv');
    const db = client.db('replace');
    const coll = db.collection<{ _id: number; email: string; n: number; _sync?: { v: number } }>('people');
    await coll.insertMany(
      Array.from({ length: 100 }, (_, i) => ({ _id: i, email: `p${i}@x`, n: i, _sync: { v: 1 } })),
    );
    const sizeOf = async () =>
      (await coll.find({}).toArray()).reduce((a, d) => a + BSON.calculateObjectSize(d), 0);
    const stats = async () => Number((await db.command({ collStats: 'people' })).size);
    assert.equal(await stats(), await sizeOf(), 'collStats size after the inserts');

    // Replaced without naming the _id, and naming the same one: both keep it.
    let r = await coll.replaceOne({ _id: 1 }, { email: 'one@x', n: 1000 });
    assert.deepEqual([r.matchedCount, r.modifiedCount], [1, 1]);
    r = await coll.replaceOne({ _id: 2, '_sync.v': { $lt: 2 } }, { _id: 2, email: 'two@x', n: 2 } as never);
    assert.deepEqual([r.matchedCount, r.modifiedCount], [1, 1]);
    assert.deepEqual(await coll.findOne({ _id: 1 }), { _id: 1, email: 'one@x', n: 1000 });
    assert.deepEqual(await coll.findOne({ _id: 2 }), { _id: 2, email: 'two@x', n: 2 });
    // A guard that does not hold changes nothing; the same content again is matched, not modified.
    r = await coll.replaceOne({ _id: 3, '_sync.v': { $lt: 1 } }, { email: 'stale@x', n: -1 });
    assert.deepEqual([r.matchedCount, r.modifiedCount], [0, 0]);
    r = await coll.replaceOne({ _id: 4 }, { email: 'p4@x', n: 4, _sync: { v: 1 } });
    assert.deepEqual([r.matchedCount, r.modifiedCount], [1, 0]);
    assert.deepEqual(await coll.findOne({ _id: 3 }), { _id: 3, email: 'p3@x', n: 3, _sync: { v: 1 } });
    // Another _id in the replacement is refused (MongoDB: ImmutableField, code 66).
    await assert.rejects(
      coll.replaceOne({ _id: 5 }, { _id: 6, email: 'moved@x', n: 5 } as never),
      (e: unknown) => e instanceof MongoServerError && e.code === 66,
    );
    assert.equal((await coll.findOne({ _id: 5 }))?.email, 'p5@x');
    assert.equal(await stats(), await sizeOf(), 'collStats size after the replaces');

    // With a second unique index, a replacement that would duplicate its key is refused.
    await coll.createIndex({ email: 1 }, { unique: true });
    await assert.rejects(
      coll.replaceOne({ _id: 7 }, { email: 'p8@x', n: 7 }),
      (e: unknown) => e instanceof MongoServerError && e.code === 11000,
    );
    r = await coll.replaceOne({ _id: 7 }, { email: 'seven@x', n: 7 });
    assert.deepEqual([r.matchedCount, r.modifiedCount], [1, 1]);
    assert.equal(
      (await coll.findOne({ email: 'seven@x' }))?._id,
      7,
      'the second index follows the replacement',
    );
    assert.equal(await coll.findOne({ email: 'p7@x' }), null);

    await coll.deleteMany({ _id: { $lt: 50 } });
    assert.equal(await stats(), await sizeOf(), 'collStats size after the deletes');
    await client.close();
  });

  test('an _id is one key whatever its number type: inserts of 5, 5L and 5.0 collide, and a replace or find by one type reaches the document stored under another, also after a SIGKILL', async () => {
    const file = 'id-types.mv';
    let { standin, client } = await start(file, NO_CHECKPOINT);
    type AnyId = { _id: number | string | Int32 | Long | Double; n: number; _sync?: { v: number } };
    const coll = () => client.db('ids').collection<AnyId>('docs');
    const isDuplicate = (e: unknown) => e instanceof MongoServerError && e.code === 11000;
    // Every insert, the bulk of 100 too, is in the write log only (decision 0107): the restart
    // below finds them by replaying it.
    await coll().insertOne({ _id: new Int32(5), n: 1, _sync: { v: 1 } });
    await coll().insertMany(Array.from({ length: 100 }, (_, i) => ({ _id: Long.fromNumber(100 + i), n: i })));
    await coll().insertOne({ _id: 'k1', n: 2 });

    const checks = async (when: string) => {
      for (const dup of [Long.fromNumber(5), new Double(5), new Int32(5)])
        await assert.rejects(coll().insertOne({ _id: dup, n: -1 }), isDuplicate, `${when}: insert of ${dup}`);
      await assert.rejects(coll().insertOne({ _id: 'k1', n: -1 }), isDuplicate, `${when}: insert of 'k1'`);
      // An unordered bulk refuses exactly the taken keys (int32 and double spellings of int64 ids).
      const bulk = await coll()
        .insertMany(
          [
            { _id: new Int32(100), n: -1 },
            { _id: 900, n: 900 },
            { _id: new Double(101), n: -1 },
            { _id: 'k2', n: 901 },
          ],
          { ordered: false },
        )
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.ok(bulk instanceof MongoServerError, `${when}: the bulk reports its duplicates`);
      const errors = (bulk as MongoServerError & { writeErrors: { index: number; code: number }[] })
        .writeErrors;
      assert.deepEqual(
        [errors].flat().map((w) => [w.index, w.code]),
        [
          [0, 11000],
          [2, 11000],
        ],
        `${when}: refused`,
      );
      // A guarded replace by another number type finds the stored document and keeps its _id.
      const r = await coll().replaceOne(
        { _id: Long.fromNumber(5), '_sync.v': { $lt: 9 } },
        { n: 50, _sync: { v: 1 } },
      );
      assert.deepEqual([r.matchedCount, r.modifiedCount], [1, 1], `${when}: replace by 5L`);
      const five = await client
        .db('ids')
        .collection<AnyId>('docs', { promoteValues: false })
        .findOne({ _id: new Double(5) });
      assert.ok(five?._id instanceof Int32, `${when}: the document keeps its int32 _id`);
      assert.equal(
        (await coll().findOne({ _id: new Int32(150) }))?.n,
        50,
        `${when}: find by int32 of an int64 id`,
      );
      assert.equal(await coll().countDocuments(), 104, `${when}: count`);
      await coll().deleteMany({ _id: { $in: [900, 'k2'] } });
    };
    await checks('before the kill');

    process.kill(standin.pid, 'SIGKILL');
    await new Promise((r) => standin.proc.once('exit', r));
    await client.close().catch(() => undefined);
    ({ standin, client } = await start(file, NO_CHECKPOINT));
    assert.equal(await coll().countDocuments(), 102, 'after the kill: what was acknowledged');
    await coll().replaceOne({ _id: 5 }, { n: 1, _sync: { v: 1 } });
    await checks('after the kill');
    await client.close();
  });

  // A data file written by the build before decision 0075 (Java serialization, made with
  // test/fixtures/make-standin-java-serialized.ts): the stand-in converts it on its first
  // start and then serves every document with its exact BSON types, its indexes and _id lookups.
  test('a data file written by the earlier storage format opens converted, every document and index intact', async () => {
    const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
    writeFileSync(
      join(dir, 'legacy.mv'),
      gunzipSync(readFileSync(join(fixtures, 'standin-java-serialized.mv.gz'))),
    );
    const expected = BSON.EJSON.parse(readFileSync(join(fixtures, 'standin-java-serialized.json'), 'utf8'), {
      relaxed: false,
    }) as Record<string, Record<string, unknown>[]>;
    const { standin, client } = await start('legacy.mv');
    assert.match(
      standin.log(),
      /converting .*legacy\.mv .* from Java serialization to bson-1; this happens once/,
    );
    assert.match(standin.log(), /converted [\d,]+ entries in/);
    const db = client.db('legacy');
    const canonical = (docs: Record<string, unknown>[]) =>
      docs.map((d) => BSON.EJSON.stringify(d, { relaxed: false })).sort();
    for (const [name, docs] of Object.entries(expected)) {
      const found = await db
        .collection(name)
        .find({}, { promoteValues: false, promoteLongs: false })
        .toArray();
      assert.equal(found.length, docs.length, `${name}: every document is there`);
      assert.deepEqual(canonical(found), canonical(docs), `${name}: same fields, values and BSON types`);
    }
    const plain = db.collection('plain');
    assert.deepEqual((await plain.indexes()).map((i) => i.name).sort(), ['_id_', 'name_unique']);
    // Lookups by _id through the converted _id index, for an int, a long and a composite key.
    assert.equal((await plain.findOne({ _id: new Int32(4) } as never))?.name, 'row 4 ünïcødé');
    assert.equal((await plain.findOne({ _id: new Long(3) } as never))?.name, 'row 3 ünïcødé');
    const line = await db
      .collection('composite')
      .findOne({ _id: { order_id: new Long(2), line: new Int32(1) } } as never);
    assert.equal(line?.qty, 7);
    // The converted unique index still refuses a duplicate.
    await assert.rejects(
      plain.insertOne({ _id: 10_000, name: 'row 4 ünïcødé' } as never),
      (e: unknown) => e instanceof MongoServerError && e.code === 11000,
    );
    // Written after the conversion, read after a restart.
    await plain.insertOne({ _id: 10_001, name: 'after conversion' } as never);
    await client.close();
    await standin.stop();
    const again = await start('legacy.mv');
    assert.doesNotMatch(again.standin.log(), /converting/, 'a converted file is not converted again');
    assert.equal(
      await again.client.db('legacy').collection('plain').countDocuments(),
      expected.plain!.length + 1,
    );
    await again.client.close();
  });

  test('a deleteMany that scans the collection (a tombstone sweep) lets reads and writes of it on another connection go on meanwhile', async () => {
    const { standin, client } = await start('sweep.mv');
    const coll = client.db('sweep').collection<{ _id: number; expireAt: Date; pad: string }>('tombs');
    const past = new Date(Date.now() - 60_000);
    const future = new Date(Date.now() + 3_600_000);
    const total = 200_000;
    const pad = 'x'.repeat(100);
    for (let from = 0; from < total; from += 10_000) {
      await coll.insertMany(
        Array.from({ length: 10_000 }, (_, i) => ({
          _id: from + i,
          expireAt: (from + i) % 4 === 0 ? past : future,
          pad,
        })),
      );
    }
    // Another client, so other connections: the reads and writes a sink makes meanwhile.
    const other = new MongoClient(standin.url, { directConnection: true });
    clients.push(other);
    const otherColl = other.db('sweep').collection<{ _id: number; expireAt?: Date; pad?: string }>('tombs');
    await otherColl.findOne({ _id: 1 });

    let sweeping = true;
    const started = performance.now();
    const sweep = coll.deleteMany({ expireAt: { $lt: new Date() } }).finally(() => (sweeping = false));
    const waits: number[] = [];
    let written = 0;
    while (sweeping) {
      const t = performance.now();
      const live = await otherColl.findOne({ _id: 4 * ((waits.length % 1000) + 1) + 1 });
      await otherColl.insertOne({ _id: total + written, expireAt: future, pad });
      written++;
      waits.push(performance.now() - t);
      assert.ok(live, 'a document the sweep must keep is there throughout');
    }
    const { deletedCount } = await sweep;
    const sweepMs = performance.now() - started;
    assert.equal(deletedCount, total / 4, 'exactly the expired documents are deleted');
    assert.equal(
      await coll.countDocuments(),
      total - total / 4 + written,
      'the rest, and what was written meanwhile, stay',
    );
    // Under one lock for the whole scan, one read and write got through in a 400 ms sweep. Now
    // 100-400 do; the longest waits (40-150 ms) are the stand-in's young collections.
    assert.ok(
      waits.length >= 10,
      `reads and writes went on during the sweep (${waits.length} in ${Math.round(sweepMs)} ms)`,
    );
    const longest = Math.max(...waits);
    assert.ok(
      longest < sweepMs / 2,
      `the longest read + write took ${Math.round(longest)} ms of a ${Math.round(sweepMs)} ms sweep`,
    );
  });
});
