// The cascade walk behind the BEFORE triggers: which rows a DELETE or key UPDATE of a parent
// changes through the foreign-key graph, and what doctor says about what it cannot capture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureLimitations, cascadePlan, uncapturedParents } from '../../src/capture/trigger/cascade.ts';
import { triggerEventsFor, cascadePlans } from '../../src/capture/trigger/ddl.ts';
import type { ForeignKey } from '../../src/mysql/catalog.ts';
import type { TableSchema } from '../../src/model/types.ts';

const col = (name: string) => ({
  name,
  position: 1,
  dataType: 'int',
  columnType: 'int(11)',
  kind: 'int' as const,
  nullable: true,
  fsp: 0,
  precision: 10,
  scale: 0,
});
const table = (name: string, columns: string[], primaryKey: string[]): TableSchema => ({
  database: 'shop',
  name,
  columns: columns.map(col),
  primaryKey,
});
const fk = (
  name: string,
  t: string,
  columns: string[],
  refTable: string,
  refColumns: string[],
  onDelete: ForeignKey['onDelete'],
  onUpdate: ForeignKey['onUpdate'],
): ForeignKey => ({
  name,
  table: t,
  columns,
  refDatabase: 'shop',
  refTable,
  refColumns,
  onDelete,
  onUpdate,
});

const tables = [
  table('acct', ['id', 'name'], ['id']),
  table('ord', ['acct_id', 'ord_no', 'status'], ['acct_id', 'ord_no']),
  table('line', ['id', 'acct_id', 'ord_no'], ['id']),
];
const fks = [
  fk('ord_acct', 'ord', ['acct_id'], 'acct', ['id'], 'CASCADE', 'CASCADE'),
  fk('line_ord', 'line', ['acct_id', 'ord_no'], 'ord', ['acct_id', 'ord_no'], 'SET NULL', 'CASCADE'),
];
const graph = { database: 'shop', captured: new Map(tables.map((t) => [t.name, t])), foreignKeys: fks };

test('a parent delete cascades as d of the children and u (set null) of the grandchildren, read through the join chain', () => {
  const plan = cascadePlan(graph, 'acct', 'delete');
  assert.deepEqual(
    plan.steps.map((s) => [s.table.name, s.op, [...s.overrides.entries()]]),
    [
      ['ord', 'd', []],
      [
        'line',
        'u',
        [
          ['acct_id', 'NULL'],
          ['ord_no', 'NULL'],
        ],
      ],
    ],
  );
  assert.match(plan.steps[1]!.from, /`ord` AS _sc1 JOIN `line` AS _sc2 ON _sc2.`acct_id` = _sc1.`acct_id`/);
  assert.equal(plan.steps[1]!.where, '_sc1.`acct_id` = OLD.`id`');
});

test('a parent key update cascades into the child key (d + c) and on to the grandchild (u), only when the bytes change', () => {
  const plan = cascadePlan(graph, 'acct', 'update');
  assert.deepEqual(
    plan.steps.map((s) => [s.table.name, s.op, s.keyChange]),
    [
      ['ord', 'u', true],
      ['line', 'u', false],
    ],
  );
  assert.match(plan.steps[0]!.where, /NOT \(CAST\(OLD.`id` AS BINARY\) <=> CAST\(NEW.`id` AS BINARY\)\)/);
  assert.equal(plan.steps[1]!.overrides.get('acct_id'), 'NEW.`id`');
  // The leaf has nothing to cascade: three AFTER triggers only.
  assert.deepEqual(triggerEventsFor(cascadePlans(graph, 'line')), ['insert', 'update', 'delete']);
  assert.deepEqual(triggerEventsFor(cascadePlans(graph, 'acct')), [
    'insert',
    'update',
    'delete',
    'before-update',
    'before-delete',
  ]);
});

test('doctor: a cascade from an uncaptured parent is a failure naming the constraint and the table to add', () => {
  const partial = {
    ...graph,
    captured: new Map([
      ['ord', tables[1]!],
      ['line', tables[2]!],
    ]),
  };
  const limits = uncapturedParents(partial, ['acct', 'ord', 'line']);
  assert.equal(limits.length, 1);
  assert.equal(limits[0]!.table, 'ord');
  assert.equal(limits[0]!.constraint, 'ord_acct');
  assert.match(limits[0]!.fix, /add acct to source\.tables/);
  assert.deepEqual(captureLimitations(graph), []);
});
