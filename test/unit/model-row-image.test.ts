// The row-image SQL generator, topic naming and the JSON compaction the relay relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactJson, topicName } from '../../src/model/event.ts';
import { keyExpression, rowImageExpression, valueExpression } from '../../src/model/row-image-sql.ts';
import type { ColumnSchema, TableSchema } from '../../src/model/types.ts';

const col = (name: string, kind: ColumnSchema['kind'], fsp = 0, dataType = 'x'): ColumnSchema => ({
  name,
  position: 1,
  dataType,
  columnType: dataType,
  kind,
  nullable: true,
  fsp,
  precision: null,
  scale: null,
});

test('per-kind expressions: strings for big numbers, base64 without line breaks, UTC timestamps, embedded JSON', () => {
  assert.equal(valueExpression(col('a', 'bigint_unsigned'), 'NEW.`a`'), 'CAST(NEW.`a` AS CHAR)');
  assert.equal(valueExpression(col('a', 'binary'), 'NEW.`a`'), "REPLACE(TO_BASE64(NEW.`a`), '\\n', '')");
  assert.match(
    valueExpression(col('a', 'timestamp', 3), 'NEW.`a`'),
    /^CASE WHEN MONTH\(NEW\.`a`\) = 0 OR DAYOFMONTH\(NEW\.`a`\) = 0 THEN NULL ELSE CONCAT\(LEFT\(.*UNIX_TIMESTAMP\(NEW\.`a`\).*, 23\), 'Z'\) END$/,
  );
  const zero = (e: string) => `CASE WHEN MONTH(x) = 0 OR DAYOFMONTH(x) = 0 THEN NULL ELSE ${e} END`;
  assert.equal(valueExpression(col('a', 'datetime', 6), 'x'), zero("DATE_FORMAT(x, '%Y-%m-%dT%H:%i:%s.%f')"));
  assert.equal(valueExpression(col('a', 'datetime', 0), 'x'), zero("DATE_FORMAT(x, '%Y-%m-%dT%H:%i:%s')"));
  assert.equal(valueExpression(col('a', 'json'), 'x'), "JSON_EXTRACT(x, '$')");
  assert.match(valueExpression(col('a', 'bit1'), 'x'), /^JSON_EXTRACT\(CASE WHEN x IS NULL THEN NULL/);
});

test('row images list every column in table order; keys list the key columns in key order', () => {
  const table: TableSchema = {
    database: 'd',
    name: 't',
    columns: [col('b', 'int'), col('a', 'string'), col("c'", 'int')],
    primaryKey: ["c'", 'b'],
  };
  assert.equal(
    rowImageExpression(table, 'NEW'),
    "JSON_OBJECT('b', NEW.`b`, 'a', NEW.`a`, CONVERT(X'6327' USING utf8mb4), NEW.`c'`)",
  );
  assert.equal(keyExpression(table, null), "JSON_OBJECT(CONVERT(X'6327' USING utf8mb4), `c'`, 'b', `b`)");
});

test('topic names escape characters Kafka does not allow, injectively', () => {
  assert.equal(topicName('syncline', 'shop', 'order_items'), 'syncline.shop.order_items');
  assert.equal(topicName('p', 'my db', 'a.b-c ✓'), 'p.my-20db.a-2eb-2dc-20-e2-9c-93');
  assert.notEqual(topicName('p', 'd', 'a-2e'), topicName('p', 'd', 'a.'));
});

test('compactJson removes whitespace outside strings only and keeps number lexemes', () => {
  assert.equal(
    compactJson('{"a b": [1, 2.50, 123456789012345678901234567890], "c\\" d": "x  y\\\\", "e": null}'),
    '{"a b":[1,2.50,123456789012345678901234567890],"c\\" d":"x  y\\\\","e":null}',
  );
});

test('compactJson gives what the former regular expression gave, on 5,000 random JSON texts with random spacing', () => {
  // The regular expression the scan replaced: the reference for every valid JSON text.
  const reference = (text: string): string =>
    text.replace(/("(?:[^"\\]|\\.)*")|[ \t\r\n]+/g, (_m, quoted: string | undefined) => quoted ?? '');
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const space = (): string => ['', ' ', '  ', '\n', '\t', '\r\n ', ''][rnd(7)]!;
  const chars = ['a', ' ', '"', '\\', '\n', '\t', 'é', '✓', '😀', '\u0001', ':', ',', '{', ']'];
  const str = (): string =>
    JSON.stringify(Array.from({ length: rnd(6) }, () => chars[rnd(chars.length)]).join(''));
  const value = (depth: number): string => {
    const s = space;
    switch (depth > 3 ? rnd(4) : rnd(6)) {
      case 0:
        return str();
      case 1:
        return ['0', '-1.50', '123456789012345678901234567890', '1e-7'][rnd(4)]!;
      case 2:
        return ['true', 'false', 'null'][rnd(3)]!;
      case 3:
        return `${s()}${str()}${s()}`;
      case 4:
        return `[${s()}${Array.from({ length: rnd(4) }, () => s() + value(depth + 1) + s()).join(',')}${s()}]`;
      default:
        return `{${s()}${Array.from({ length: rnd(4) }, () => `${s()}${str()}${s()}:${s()}${value(depth + 1)}${s()}`).join(',')}}`;
    }
  };
  for (let i = 0; i < 5000; i++) {
    const text = `${space()}${value(0)}${space()}`;
    const compact = compactJson(text);
    assert.equal(compact, reference(text), text);
    assert.deepEqual(JSON.parse(compact), JSON.parse(text));
    assert.doesNotMatch(compactJson(`[${text}, ${text}]`), /^\[\s/);
  }
});
