// The values verify expects in the sinks, computed from row images: the same mapping the Spark
// job applies (docs in README "Type mapping"), checked case by case.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Binary, Decimal128, Long } from 'mongodb';
import {
  canonicalBson,
  canonicalRedis,
  expectedMongo,
  normDecimal,
  redisKey,
  redisText,
} from '../../src/verify/expected.ts';

const col = (kind: string, columnType = '') => ({ kind, columnType }) as Parameters<typeof expectedMongo>[0];

test('decimals compare by value whatever the notation: 1.50 = 1.5, 1.5E+2 = 150, -0.000 = 0', () => {
  assert.equal(normDecimal('1.50'), '1.5');
  assert.equal(normDecimal('1.5E+2'), '150');
  assert.equal(normDecimal('1.23E-7'), '0.000000123');
  assert.equal(normDecimal('-0.000'), '0');
  assert.equal(normDecimal('007'), '7');
});

test('every kind of row-image value maps to what the MongoDB sink stores', () => {
  const cases: [string, unknown, unknown][] = [
    ['int', 42, 42],
    ['bigint', '9007199254740993', Long.fromString('9007199254740993')],
    ['bigint_unsigned', '18446744073709551615', Decimal128.fromString('18446744073709551615')],
    ['bigint_unsigned', '5', 5n],
    ['decimal', '12.3400', Decimal128.fromString('12.3400')],
    ['decimal', '1.000000000000000000000000000000000001', '1.000000000000000000000000000000000001'],
    ['double', 1.5, 1.5],
    ['bit1', true, true],
    ['bool', 2, true],
    ['bool', 0, false],
    ['date', '2024-02-29', '2024-02-29'],
    ['datetime', '2024-02-29T23:59:59.123456', new Date('2024-02-29T23:59:59.123Z')],
    ['timestamp', '2024-02-29T23:59:59Z', new Date('2024-02-29T23:59:59.000Z')],
    ['set', 'a,c', ['a', 'c']],
    ['set', '', []],
    ['json', { b: [1, 'x'], a: null }, { a: null, b: [1, 'x'] }],
    ['binary', 'AAH/', new Binary(Buffer.from([0, 1, 255]))],
    ['string', null, null],
  ];
  for (const [kind, image, stored] of cases) {
    assert.equal(expectedMongo(col(kind), image), canonicalBson(stored), `${kind} ${JSON.stringify(image)}`);
  }
  // A real difference is a difference.
  assert.notEqual(expectedMongo(col('decimal'), '12.34'), canonicalBson(Decimal128.fromString('12.35')));
  assert.notEqual(
    expectedMongo(col('datetime'), '2024-02-29T23:59:59.124'),
    canonicalBson(new Date('2024-02-29T23:59:59.123Z')),
  );
});

test('Redis texts: booleans as 1/0, JSON compact, NULL as an absent field, doubles by value', () => {
  assert.equal(redisText(true), '1');
  assert.equal(redisText(null), undefined);
  assert.equal(redisText({ a: 1 }), '{"a":1}');
  assert.equal(canonicalRedis('double', '1.0E-10'), canonicalRedis('double', redisText(1e-10)));
  assert.equal(canonicalRedis('json', '{"b":1,"a":2}'), canonicalRedis('json', '{"a":2,"b":1}'));
});

test('Redis keys follow the template and escape the characters of hash tags', () => {
  assert.equal(
    redisKey('{table}:{key}', { table: 'order_items', db: 'shop' }, ['order_id', 'line_no'], ['42', 3]),
    'order_items:42:3',
  );
  assert.equal(redisKey('{db}:{table}:{key}', { table: 't', db: 'd' }, ['k'], ['a{b}%']), 'd:t:a%7Bb%7D%25');
  assert.equal(redisKey('user:{id}', { table: 'users', db: 'x' }, ['id'], [7]), 'user:7');
  // A ':' inside a value is escaped, so (20, 'b:c') and ('20:b', 'c') are two keys, not one.
  assert.equal(redisKey('{table}:{key}', { table: 't', db: 'd' }, ['a', 'b'], [20, 'b:c']), 't:20:b%3Ac');
  assert.equal(redisKey('{table}:{key}', { table: 't', db: 'd' }, ['a', 'b'], ['20:b', 'c']), 't:20%3Ab:c');
});
