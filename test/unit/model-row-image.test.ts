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
