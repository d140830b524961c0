// The Spark job end to end on the local stack: golden events through Kafka → Spark → MongoDB and
// Redis with the exact documents and entries (every column type), invalid events in the DLQ, a
// row that stops passing the table's filter disappearing from both sinks, and deletes leaving
// tombstones that readers of the data never see.
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { EJSON } from 'bson';
import { readTopics } from '../../src/kafka/client.ts';
import {
  dropCreatedFixtures,
  goldenEvents,
  goldenTables,
  produce,
  runJob,
  sparkFixture,
  withSinks,
  type JobRun,
  type SparkFixture,
} from './spark-support.ts';

let f: SparkFixture;
const byJson = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));
let run: JobRun;

const golden = goldenEvents();
const lineKey = (order: number, line: number): string =>
  JSON.stringify({ order_id: String(order), line_no: line });
const lineEvent = (
  op: string,
  seq: number,
  order: number,
  line: number,
  sku: string,
  quantity: number,
  price: string,
): string =>
  JSON.stringify({
    op,
    before: null,
    after: { order_id: String(order), line_no: line, sku, quantity, price },
    source: {
      name: 'syncline',
      db: 'shop',
      table: 'order_lines',
      capture: 'trigger',
      seq: String(seq),
      ts_ms: 1_700_000_000_000 + seq,
    },
    ts_ms: 0,
  });

/**
 * Canonical Extended JSON: every value carries its BSON type, so types are asserted too. The
 * local stand-in (mongo-java-server) hands back an int64 that fits 32 bits as int32; real MongoDB
 * keeps int64. Against the stand-in such values are compared as int32 on both sides (the Java
 * unit tests assert the int64 the writer sends).
 */
let standIn = false;
const narrow = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(narrow);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (standIn && typeof o.$numberLong === 'string' && Math.abs(Number(o.$numberLong)) < 2 ** 31)
      return { $numberInt: o.$numberLong };
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, narrow(x)]));
  }
  return v;
};
const canonical = (doc: unknown): unknown => narrow(JSON.parse(EJSON.stringify(doc, { relaxed: false })));

const SWEEP_EXPIRED = 'sweep_test:expired';
const SWEEP_LIVE = 'sweep_test:live';

before(async () => {
  f = await sparkFixture('spark_golden', {
    tables: goldenTables(),
    settings: (t, prefix) =>
      t.name === 'order_lines'
        ? {
            validate: [
              { name: 'quantity_positive', expr: 'quantity > 0', message: 'quantity must be positive' },
            ],
            transform: { fields: { total: 'quantity * price' }, filter: "sku <> 'SKU-HIDDEN'" },
            redis: { keyTemplate: `${prefix}:line:{order_id}:{line_no}`, format: 'json' },
          }
        : {},
  });
  const events = golden.map((g) => ({
    topic: f.topics[g.event.topic.split('.').pop()!]!,
    key: g.keyText,
    value: g.valueText,
  }));
  events.push(
    {
      topic: f.topics.order_lines!,
      key: lineKey(50, 1),
      value: lineEvent('c', 100, 50, 1, 'SKU-50', 0, '1.00'),
    },
    { topic: f.topics.order_lines!, key: lineKey(50, 2), value: 'not json at all' },
    {
      topic: f.topics.order_lines!,
      key: lineKey(51, 1),
      value: lineEvent('c', 101, 51, 1, 'SKU-51', 3, '2.50'),
    },
  );
  await produce(f, events);
  standIn = await withSinks(
    f,
    async (mongo) => !('gitVersion' in (await mongo.db('admin').command({ buildInfo: 1 }))),
  );
  // Left by an earlier run: one tombstone past its expiry, one not (decision 0099).
  await withSinks(f, async (mongo) => {
    await mongo
      .db(f.mongoDb)
      .collection<{ _id: string; c: string; expireAt: Date }>('_syncline_tombstones')
      .insertMany([
        { _id: SWEEP_EXPIRED, c: 'sweep_test', expireAt: new Date(Date.now() - 60_000) },
        { _id: SWEEP_LIVE, c: 'sweep_test', expireAt: new Date(Date.now() + 86_400_000) },
      ]);
  });
  run = runJob(f);
  await run.waitForRows(events.length);
});

after(async () => {
  await run?.stop();
  await dropCreatedFixtures();
});

describe('Spark job on the golden events', () => {
  test('the every-type row lands in MongoDB with the documented BSON types and metadata', async () => {
    await withSinks(f, async (mongo) => {
      const docs = await mongo.db(f.mongoDb).collection('all_types').find({}).toArray();
      assert.equal(docs.length, 1, 'id 2 was inserted and deleted; only id 1 remains');
      const doc = canonical(docs[0]) as Record<string, unknown>;
      const sync = doc._sync as Record<string, unknown>;
      assert.ok(sync.wt, 'write time is recorded');
      delete sync.wt;
      const int = (n: number) => ({ $numberInt: String(n) });
      const long = (n: string) => ({ $numberLong: n });
      const dec = (n: string) => ({ $numberDecimal: n });
      const date = (iso: string) => ({ $date: { $numberLong: String(Date.parse(iso)) } });
      const bin = (b64: string) => ({ $binary: { base64: b64, subType: '00' } });
      assert.deepEqual(
        doc,
        narrow({
          _id: int(1),
          id: int(1),
          c_tinyint: int(-128),
          c_tinyint_u: int(255),
          c_smallint: int(-32768),
          c_mediumint: int(8388607),
          c_int: int(-2147483648),
          c_int_u: long('4294967295'),
          c_bigint: long('-9223372036854775808'),
          c_bigint_u: dec('18446744073709551615'),
          // The update set it to -0.5; DECIMAL(65,30) keeps its scale in Decimal128.
          c_decimal: dec('-0.500000000000000000000000000000'),
          c_decimal_small: dec('12.3400'),
          c_float: { $numberDouble: '1.5' },
          c_double: { $numberDouble: '-2.25e-10' },
          c_bit1: false,
          c_bit5: long('5'),
          c_bit64: dec('18446744073709551615'),
          c_bool: true,
          c_date: '2024-02-29',
          c_datetime: date('2024-02-29T23:59:59Z'),
          c_datetime3: date('2024-02-29T23:59:59.120Z'),
          c_datetime6: date('2024-02-29T23:59:59.123Z'),
          c_timestamp: date('2024-02-29T23:59:59Z'),
          c_timestamp6: date('2024-02-29T23:59:59.654Z'),
          c_time: '-838:59:59',
          c_time6: '12:00:00.500000',
          c_year: int(2024),
          c_char: 'abc',
          c_varchar: 'updated ✓',
          c_text: 'line1\nline2\ttab',
          c_longtext: 'x'.repeat(300),
          c_binary: bin('AAH/AA=='),
          c_varbinary: bin('AAH/'),
          c_blob: bin('3q2+7w=='),
          c_enum: 'shipped',
          c_set: ['a', 'c'],
          c_json: [int(1), { a: null }],
          c_geometry: bin('AQEAAAAAAAAAAADwPwAAAAAAAABA'),
          _sync: { v: long('3'), ts: date('1970-01-01T00:00:00Z'), op: 'u', src: f.job.source.id },
        }),
      );
    });
  });

  test('the every-type row lands in Redis as a hash of strings in the row-image representation', async () => {
    await withSinks(f, async (_mongo, redis) => {
      const hash = await redis.hGetAll(`${f.redisPrefix}:all_types:1`);
      const insert = golden[0]!.event.value.after as Record<string, unknown>;
      const expected: Record<string, string> = {
        _sync_v: '3',
        _sync_ts: '0',
        _sync_src: f.job.source.id,
      };
      for (const [k, v] of Object.entries(insert)) {
        if (v !== null)
          expected[k] =
            typeof v === 'object' ? JSON.stringify(v) : typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
      }
      Object.assign(expected, {
        c_varchar: 'updated ✓',
        c_json: '[1,{"a":null}]',
        c_decimal: '-0.500000000000000000000000000000',
        c_bit1: '0',
        c_double: '-2.25E-10',
      });
      assert.deepEqual(hash, expected);
      assert.equal(await redis.exists(`${f.redisPrefix}:all_types:2`), 0, 'the deleted row is gone');
    });
  });

  test('composite keys become _id documents, transform fields are computed, and the JSON format carries _sync', async () => {
    await withSinks(f, async (mongo, redis) => {
      const docs = await mongo
        .db(f.mongoDb)
        .collection('order_lines')
        .find({})
        .sort({ '_id.order_id': 1, '_id.line_no': 1 })
        .toArray();
      const plain = docs.map((d) => {
        const c = canonical(d) as { _sync: Record<string, unknown> } & Record<string, unknown>;
        delete c._sync.wt;
        return c;
      });
      assert.deepEqual(
        plain,
        narrow([
          {
            _id: { order_id: { $numberLong: '42' }, line_no: { $numberInt: '3' } },
            order_id: { $numberLong: '42' },
            line_no: { $numberInt: '3' },
            sku: 'SKU-2',
            quantity: { $numberInt: '1' },
            price: { $numberDecimal: '100.00' },
            total: { $numberDecimal: '100.00' },
            _sync: {
              v: { $numberLong: '7' },
              ts: { $date: { $numberLong: '0' } },
              op: 'c',
              src: f.job.source.id,
            },
          },
          {
            _id: { order_id: { $numberLong: '51' }, line_no: { $numberInt: '1' } },
            order_id: { $numberLong: '51' },
            line_no: { $numberInt: '1' },
            sku: 'SKU-51',
            quantity: { $numberInt: '3' },
            price: { $numberDecimal: '2.50' },
            total: { $numberDecimal: '7.50' },
            _sync: {
              v: { $numberLong: '101' },
              ts: { $date: { $numberLong: String(1_700_000_000_101) } },
              op: 'c',
              src: f.job.source.id,
            },
          },
        ]),
      );
      assert.deepEqual(JSON.parse((await redis.get(`${f.redisPrefix}:line:51:1`))!), {
        order_id: '51',
        line_no: 1,
        sku: 'SKU-51',
        quantity: 3,
        price: '2.50',
        total: '7.50',
        _sync: { v: '101', ts: 1_700_000_000_101, src: f.job.source.id },
      });
      assert.equal(await redis.exists(`${f.redisPrefix}:line:42:1`), 0);
      assert.equal(
        await redis.exists(`${f.redisPrefix}:line:42:2`),
        0,
        'the old key of the primary-key change is gone',
      );
    });
  });

  test('deletes leave tombstones outside the user data: a side collection and a side key in the same slot', async () => {
    await withSinks(f, async (mongo, redis) => {
      const tombs = await mongo
        .db(f.mongoDb)
        .collection('_syncline_tombstones')
        .find({ c: { $ne: 'sweep_test' } })
        .project({ expireAt: 0 })
        .toArray();
      assert.deepEqual(
        tombs.map((t) => canonical(t)).sort(byJson),
        (
          narrow([
            {
              _id: 'all_types:{"k": {"$numberInt": "2"}}',
              c: 'all_types',
              k: { $numberInt: '2' },
              v: { $numberLong: '10' },
              src: f.job.source.id,
            },
            {
              _id: 'order_lines:{"k": {"order_id": {"$numberLong": "42"}, "line_no": {"$numberInt": "1"}}}',
              c: 'order_lines',
              k: { order_id: { $numberLong: '42' }, line_no: { $numberInt: '1' } },
              v: { $numberLong: '9' },
              src: f.job.source.id,
            },
            {
              _id: 'order_lines:{"k": {"order_id": {"$numberLong": "42"}, "line_no": {"$numberInt": "2"}}}',
              c: 'order_lines',
              k: { order_id: { $numberLong: '42' }, line_no: { $numberInt: '2' } },
              v: { $numberLong: '6' },
              src: f.job.source.id,
            },
          ]) as unknown[]
        ).sort(byJson),
      );
      assert.equal(await redis.get(`syncline:tomb:{${f.redisPrefix}:all_types:2}`), `10@${f.job.source.id}`);
      assert.equal(await redis.get(`syncline:tomb:{${f.redisPrefix}:line:42:1}`), `9@${f.job.source.id}`);
      const ttl = await redis.ttl(`syncline:tomb:{${f.redisPrefix}:all_types:2}`);
      assert.ok(ttl > 6 * 24 * 3600, `tombstones expire after the configured period (ttl ${ttl} s)`);
    });
  });

  test('the running job sweeps expired tombstones away and keeps the others', async () => {
    await withSinks(f, async (mongo) => {
      const tombs = mongo.db(f.mongoDb).collection<{ _id: string }>('_syncline_tombstones');
      const deadline = Date.now() + 60_000;
      while ((await tombs.findOne({ _id: SWEEP_EXPIRED })) && Date.now() < deadline) await sleep(200);
      assert.equal(await tombs.findOne({ _id: SWEEP_EXPIRED }), null, 'the expired tombstone is gone');
      assert.ok(await tombs.findOne({ _id: SWEEP_LIVE }), 'the tombstone that has not expired stays');
    });
  });

  test('invalid events go to the DLQ with table, key, rule, message and the original event, and are counted', async () => {
    const dlq = await readTopics(
      { brokers: f.stack.kafkaBrokers, clientId: 'spark-test', tls: undefined, sasl: undefined },
      [f.dlqTopic],
    );
    const letters = dlq
      .map((m) => JSON.parse(m.value!) as Record<string, unknown>)
      .sort((a, b) => String(a.key).localeCompare(String(b.key)));
    assert.deepEqual(
      letters.map((l) => ({ table: l.table, key: l.key, rule: l.rule, message: l.message, event: l.event })),
      [
        {
          table: 'shop.order_lines',
          key: lineKey(50, 1),
          rule: 'quantity_positive',
          message: 'quantity must be positive',
          event: lineEvent('c', 100, 50, 1, 'SKU-50', 0, '1.00'),
        },
        {
          table: 'shop.order_lines',
          key: lineKey(50, 2),
          rule: 'envelope',
          message: 'value is not a change-event envelope (no op field)',
          event: 'not json at all',
        },
      ],
    );
    assert.deepEqual(
      dlq.map((m) => m.key).sort(),
      [lineKey(50, 1), lineKey(50, 2)],
      'dead letters keep the message key',
    );
    const counted = run.progress.flatMap((p) => Object.entries(p.tables['shop.order_lines']?.dlqRules ?? {}));
    assert.deepEqual(Object.fromEntries(counted), { quantity_positive: 1, envelope: 1 });
    await withSinks(f, async (mongo) => {
      assert.equal(
        await mongo.db(f.mongoDb).collection('order_lines').countDocuments({ order_id: 50 }),
        0,
        'invalid rows are not written',
      );
    });
  });

  test('a row that stops passing the filter disappears from both sinks, and comes back when it passes again', async () => {
    const seen = run.processed();
    await produce(f, [
      {
        topic: f.topics.order_lines!,
        key: lineKey(51, 1),
        value: lineEvent('u', 102, 51, 1, 'SKU-HIDDEN', 3, '2.50'),
      },
    ]);
    await run.waitForRows(seen + 1);
    await withSinks(f, async (mongo, redis) => {
      assert.equal(
        await mongo
          .db(f.mongoDb)
          .collection('order_lines')
          .countDocuments({ _id: { order_id: 51, line_no: 1 } as never }),
        0,
      );
      assert.equal(await redis.exists(`${f.redisPrefix}:line:51:1`), 0);
    });
    await produce(f, [
      {
        topic: f.topics.order_lines!,
        key: lineKey(51, 1),
        value: lineEvent('u', 103, 51, 1, 'SKU-51', 4, '2.50'),
      },
    ]);
    await run.waitForRows(seen + 2);
    await withSinks(f, async (mongo, redis) => {
      const back = await mongo.db(f.mongoDb).collection('order_lines').findOne({ sku: 'SKU-51' });
      assert.equal(back?.quantity, 4);
      assert.equal(JSON.parse((await redis.get(`${f.redisPrefix}:line:51:1`))!).quantity, 4);
    });
    const filtered = run.progress.reduce(
      // Counted by each sink's query: one count per sink.
      (a, p) => a + (p.sink === 'redis' ? Number(p.tables['shop.order_lines']?.filtered ?? 0) : 0),
      0,
    );
    assert.equal(filtered, 1, 'the filtered row is counted');
  });
});
