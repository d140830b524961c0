// Column classification: every MySQL/MariaDB type lands in exactly the kind the contract names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, parseValueList } from '../../src/mysql/catalog.ts';
import { quoteId, quoteString } from '../../src/mysql/identifiers.ts';

test('each column type is classified into the kind the contract and the Spark job expect', () => {
  const cases: Array<[string, string, boolean, string]> = [
    ['tinyint', 'tinyint(1)', false, 'bool'],
    ['tinyint', 'tinyint(4)', false, 'int'],
    ['tinyint', 'tinyint(3) unsigned', false, 'int'],
    ['mediumint', 'mediumint(8) unsigned', false, 'int'],
    ['int', 'int(10) unsigned', false, 'int'],
    ['bigint', 'bigint(20)', false, 'bigint'],
    ['bigint', 'bigint(20) unsigned', false, 'bigint_unsigned'],
    ['decimal', 'decimal(65,30)', false, 'decimal'],
    ['float', 'float', false, 'float'],
    ['double', 'double', false, 'double'],
    ['bit', 'bit(1)', false, 'bit1'],
    ['bit', 'bit(64)', false, 'bitn'],
    ['date', 'date', false, 'date'],
    ['datetime', 'datetime(6)', false, 'datetime'],
    ['timestamp', 'timestamp(3)', false, 'timestamp'],
    ['time', 'time', false, 'time'],
    ['year', 'year(4)', false, 'year'],
    ['varchar', 'varchar(100)', false, 'string'],
    ['longtext', 'longtext', false, 'string'],
    ['longtext', 'longtext', true, 'json'],
    ['json', 'json', false, 'json'],
    ['varbinary', 'varbinary(16)', false, 'binary'],
    ['blob', 'blob', false, 'binary'],
    ['enum', "enum('a','b')", false, 'enum'],
    ['set', "set('a','b')", false, 'set'],
    ['point', 'point', false, 'geometry'],
    ['uuid', 'uuid', false, 'string'],
  ];
  for (const [dataType, columnType, json, kind] of cases)
    assert.equal(classify(dataType, columnType, json), kind, `${columnType}`);
  assert.throws(() => classify('vector', 'vector(3)', false), /unsupported column type vector\(3\)/);
});

test('ENUM and SET value lists are parsed with doubled quotes and commas inside values', () => {
  assert.deepEqual(parseValueList("enum('a','it''s','x,y','')"), ['a', "it's", 'x,y', '']);
});

test('identifiers and strings are quoted so that hostile names cannot break out', () => {
  assert.equal(quoteId('we`ird'), '`we``ird`');
  assert.equal(quoteString('plain'), "'plain'");
  assert.equal(quoteString("it's"), "CONVERT(X'69742773' USING utf8mb4)");
  assert.equal(quoteString('✓'), "CONVERT(X'e29c93' USING utf8mb4)");
  assert.throws(() => quoteId(''), /empty SQL identifier/);
});
