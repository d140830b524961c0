// Trigger DDL: names within MySQL's limits, drift hashes that change with the columns, and the
// key-change branch of the update trigger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { schemaHash, triggerBody, triggerName } from '../../src/capture/trigger/ddl.ts';
import { buildEventValue } from '../../src/capture/trigger/relay.ts';
import type { TableSchema } from '../../src/model/types.ts';

const table: TableSchema = {
  database: 'shop',
  name: 'orders',
  primaryKey: ['id'],
  columns: [
    {
      name: 'id',
      position: 1,
      dataType: 'int',
      columnType: 'int(11)',
      kind: 'int',
      nullable: false,
      fsp: 0,
      precision: 10,
      scale: 0,
    },
    {
      name: 'note',
      position: 2,
      dataType: 'varchar',
      columnType: 'varchar(10)',
      kind: 'string',
      nullable: true,
      fsp: 0,
      precision: 10,
      scale: null,
    },
  ],
};

test('trigger names stay within 64 characters and differ per table even when truncated', () => {
  assert.equal(triggerName('orders', 'insert'), '_syncline_i_orders');
  const long1 = triggerName('x'.repeat(60) + 'a', 'update');
  const long2 = triggerName('x'.repeat(60) + 'b', 'update');
  assert.ok([...long1].length <= 64 && [...long2].length <= 64);
  assert.notEqual(long1, long2);
});

test('the drift hash changes when a column is added, retyped or the key changes, and not otherwise', () => {
  const h = schemaHash(table);
  assert.equal(schemaHash(structuredClone(table)), h);
  assert.notEqual(
    schemaHash({
      ...table,
      columns: [...table.columns, { ...table.columns[1]!, name: 'extra', position: 3 }],
    }),
    h,
  );
  assert.notEqual(
    schemaHash({
      ...table,
      columns: [table.columns[0]!, { ...table.columns[1]!, columnType: 'varchar(20)' }],
    }),
    h,
  );
  assert.notEqual(schemaHash({ ...table, primaryKey: ['id', 'note'] }), h);
});

test('the update trigger compares keys as bytes and writes d + c for a key change, u otherwise', () => {
  const body = triggerBody(table, 'update');
  assert.match(body, /DECLARE old_key LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin/);
  assert.match(body, /IF old_key = new_key THEN\s+INSERT .* VALUES \('orders', 'u', new_key,/);
  assert.match(
    body,
    /ELSE\s+INSERT .* VALUES \('orders', 'd', old_key, .*, NULL\), \('orders', 'c', new_key, NULL, /,
  );
});

test('the event value is assembled without re-parsing the images', () => {
  const value = buildEventValue(
    {
      id: '18446744073709551615',
      tbl: 'orders',
      op: 'u',
      pk: '{"id": 1}',
      before_image: '{"id": 1, "j": {"n": 1234567890123456789012}}',
      after_image: '{"id": 1}',
      ts_ms: '1700000000123',
    } as never,
    'syncline',
    'shop',
    42,
  );
  assert.equal(
    value,
    '{"op":"u","before":{"id":1,"j":{"n":1234567890123456789012}},"after":{"id":1},"source":{"name":"syncline","db":"shop","table":"orders","capture":"trigger","seq":"18446744073709551615","ts_ms":1700000000123},"ts_ms":42}',
  );
});
