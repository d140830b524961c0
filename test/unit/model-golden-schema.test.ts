// Every golden event must satisfy the contract's JSON Schema, and the schema must be strict enough
// to reject the mistakes a producer is likely to make.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';

const CONTRACT = path.resolve(import.meta.dirname, '../../contract');
const schema = JSON.parse(readFileSync(path.join(CONTRACT, 'change-event.schema.json'), 'utf8')) as Record<
  string,
  unknown
>;
const ajv = new Ajv({ allErrors: true, strict: false });
const validateEvent = ajv.compile(schema);
const validateKey = ajv.compile({
  ...schema,
  $id: 'key',
  $ref: '#/definitions/key',
  allOf: undefined,
  required: undefined,
  properties: undefined,
  additionalProperties: undefined,
  type: undefined,
});

const golden = readdirSync(path.join(CONTRACT, 'golden'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    file: f,
    doc: JSON.parse(readFileSync(path.join(CONTRACT, 'golden', f), 'utf8')) as {
      key: unknown;
      value: Record<string, unknown>;
    },
  }));

test('every golden event value and key validates against contract/change-event.schema.json', () => {
  assert.ok(golden.length >= 10, 'golden events are missing');
  for (const { file, doc } of golden) {
    assert.ok(validateEvent(doc.value), `${file}: ${ajv.errorsText(validateEvent.errors)}`);
    // A truncate (op t) is published with a null key, one copy per partition.
    if (doc.value.op === 't') assert.equal(doc.key, null, `${file}: a truncate has a null key`);
    else assert.ok(validateKey(doc.key), `${file} key: ${ajv.errorsText(validateKey.errors)}`);
  }
});

test('the golden events cover insert, update, delete, a composite key and a primary-key change', () => {
  const ops = new Set(golden.map((g) => g.doc.value.op));
  assert.deepEqual([...ops].sort(), ['c', 'd', 't', 'u']);
  assert.ok(
    golden.some((g) => Object.keys(g.doc.key as object).length > 1),
    'no composite key',
  );
  assert.ok(
    golden.some((g) => g.file.includes('pk-change-delete')) &&
      golden.some((g) => g.file.includes('pk-change-create')),
  );
});

test('the schema rejects a numeric seq, an unknown op, a missing source and an update without before', () => {
  const base = golden.find((g) => g.doc.value.op === 'u')!.doc.value;
  const source = base.source as Record<string, unknown>;
  const broken = [
    { ...base, source: { ...source, seq: 5 } },
    { ...base, op: 'x' },
    { ...base, source: undefined },
    { ...base, before: null },
    { ...base, extra: 1 },
  ];
  for (const event of broken)
    assert.equal(
      validateEvent(JSON.parse(JSON.stringify(event))),
      false,
      JSON.stringify(event).slice(0, 120),
    );
});
