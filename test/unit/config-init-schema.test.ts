/**
 * `syncline init` writes syncline.yaml into the user's own folder; its editor modeline must name a
 * schema that exists from there (issue 13: a path relative to the checkout pointed nowhere), and
 * the starter config must be valid against that schema.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { starterConfig } from '../../src/config/init.ts';
import type { ColumnSchema, TableSchema } from '../../src/model/types.ts';

const column = (name: string, position: number): ColumnSchema => ({
  name,
  position,
  dataType: 'int',
  columnType: 'int(11)',
  kind: 'int',
  nullable: false,
  fsp: 0,
  precision: null,
  scale: null,
});

const tables: TableSchema[] = [
  { database: 'shop', name: 'customers', columns: [column('id', 1)], primaryKey: ['id'] },
  { database: 'shop', name: 'audit', columns: [column('x', 1)], primaryKey: [] },
];

test('the syncline.yaml init writes in a folder of its own names a schema that exists there and accepts the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-init-'));
  const file = join(dir, 'syncline.yaml');
  const text = starterConfig('shop', tables);
  writeFileSync(file, text);
  const modeline = /^# yaml-language-server: \$schema=(.+)$/m.exec(text);
  assert.ok(modeline, 'the first lines carry a yaml-language-server modeline');
  // A language server resolves a relative path against the YAML file's folder.
  const schemaPath = resolve(dirname(file), modeline[1]!);
  assert.ok(existsSync(schemaPath), `${modeline[1]} does not exist seen from ${dir}`);
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  const valid = validate(parse(text));
  assert.ok(valid, JSON.stringify(validate.errors));
});
