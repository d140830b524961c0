// Foreign-key cascades run no trigger on the rows they change (InnoDB does them below the SQL
// layer). To capture those rows anyway, the parent's BEFORE DELETE / BEFORE UPDATE trigger reads
// every row a cascade is about to change, at any depth the foreign-key graph has, and writes the
// events a trigger on that row would have written. This module walks the graph and produces the
// SELECTs; ddl.ts wraps them into triggers.
import type { ForeignKey, ForeignKeyRule } from '../../mysql/catalog.ts';
import type { TableSchema } from '../../model/types.ts';
import { quoteId } from '../../mysql/identifiers.ts';

/**
 * InnoDB refuses a cascade deeper than this (measured on MariaDB 10.11: a self-referencing ON
 * DELETE CASCADE chain of 15 rows is deleted from its root, one of 16 fails the statement with
 * InnoDB error 193), so generating 15 levels below the changed row covers every cascade that can
 * happen, with one level to spare.
 */
export const MAX_CASCADE_DEPTH = 15;
/** Cyclic graphs with several edges per table branch out; past this many SELECTs we stop. */
export const MAX_CASCADE_STEPS = 200;

export interface CaptureGraph {
  database: string;
  /** Schemas of the captured tables (their rows get events). */
  captured: ReadonlyMap<string, TableSchema>;
  foreignKeys: readonly ForeignKey[];
}

export interface CascadeStep {
  /** The captured table whose rows this step reads. */
  table: TableSchema;
  /** Alias of that table inside `from`. */
  alias: string;
  /** `FROM ... JOIN ...` chain from the changed row to the affected rows (reads OLD.*). */
  from: string;
  where: string;
  /** d: deleted by the cascade; u: columns replaced (SET NULL / ON UPDATE CASCADE). */
  op: 'd' | 'u';
  /** For `u`: the new value of each changed column, as SQL. */
  overrides: Map<string, string>;
  /** For `u`: a changed column is part of the primary key, so it is a d + c downstream. */
  keyChange: boolean;
  /** The constraints followed from the root, for comments and doctor. */
  path: string[];
  /** Every table `from` reads. */
  reads: string[];
}

export interface CascadePlan {
  steps: CascadeStep[];
  /** The walk stopped at MAX_CASCADE_STEPS (a cycle with several constraints branching out). */
  truncated: boolean;
  /** The graph has a cycle reachable from this table (self-reference included). */
  cyclic: boolean;
}

const acts = (rule: ForeignKeyRule): boolean => rule === 'CASCADE' || rule === 'SET NULL';

/** True if `a` and `b` hold the same bytes (NULL equals NULL). */
function sameBytes(a: string, b: string): string {
  return `(CAST(${a} AS BINARY) <=> CAST(${b} AS BINARY))`;
}

interface Frame {
  table: string;
  /** SQL reading a column's value before the change. */
  oldRef: (column: string) => string;
  /** SQL of a column's value after the change. */
  newRef: (column: string) => string;
  /** Columns whose value the change replaces (all of them for a delete). */
  changed: ReadonlySet<string> | 'deleted';
  from: string;
  where: string[];
  depth: number;
  path: string[];
  visited: string[];
}

/**
 * Every row change a DELETE (`event` 'delete') or UPDATE of one row of `root` makes by cascade,
 * as SELECTs evaluated in a BEFORE trigger (OLD./NEW. are the root row's images).
 */
export function cascadePlan(graph: CaptureGraph, root: string, event: 'delete' | 'update'): CascadePlan {
  const plan: CascadePlan = { steps: [], truncated: false, cyclic: false };
  let aliases = 0;
  const walk = (frame: Frame): void => {
    for (const fk of graph.foreignKeys) {
      if (fk.refDatabase !== graph.database || fk.refTable !== frame.table) continue;
      const deleted = frame.changed === 'deleted';
      const rule = deleted ? fk.onDelete : fk.onUpdate;
      if (!acts(rule)) continue;
      const changedSet = frame.changed;
      if (changedSet !== 'deleted' && !fk.refColumns.some((c) => changedSet.has(c))) continue;
      if (frame.visited.includes(fk.table)) plan.cyclic = true;
      if (frame.depth + 1 > MAX_CASCADE_DEPTH) continue;
      if (plan.steps.length >= MAX_CASCADE_STEPS) {
        plan.truncated = true;
        continue;
      }
      const alias = `_sc${++aliases}`;
      const col = (c: string) => `${alias}.${quoteId(c)}`;
      const on = fk.columns.map((c, i) => `${col(c)} = ${frame.oldRef(fk.refColumns[i]!)}`).join(' AND ');
      const from = frame.from
        ? `${frame.from} JOIN ${quoteId(fk.table)} AS ${alias} ON ${on}`
        : `${quoteId(fk.table)} AS ${alias}`;
      const where = frame.from ? [...frame.where] : [on];
      // An update cascades only when a referenced value really changes (InnoDB compares bytes).
      if (!deleted) {
        const moved = fk.refColumns
          .filter((c) => changedSet !== 'deleted' && changedSet.has(c))
          .map((c) => `NOT ${sameBytes(frame.oldRef(c), frame.newRef(c))}`);
        where.push(`(${moved.join(' OR ')})`);
      }
      const path = [...frame.path, `${fk.table}.${fk.name} (${deleted ? 'ON DELETE' : 'ON UPDATE'} ${rule})`];
      const visited = [...frame.visited, fk.table];
      const reads = visited.slice(1);
      if (rule === 'CASCADE' && deleted) {
        const table = graph.captured.get(fk.table);
        if (table)
          plan.steps.push({
            table,
            alias,
            from,
            where: where.join(' AND '),
            op: 'd',
            overrides: new Map(),
            keyChange: false,
            path,
            reads,
          });
        walk({
          table: fk.table,
          oldRef: col,
          newRef: col,
          changed: 'deleted',
          from,
          where,
          depth: frame.depth + 1,
          path,
          visited,
        });
        continue;
      }
      // SET NULL (on delete or update) or ON UPDATE CASCADE: the child's FK columns are replaced.
      const overrides = new Map<string, string>();
      fk.columns.forEach((c, i) => {
        overrides.set(c, rule === 'SET NULL' ? 'NULL' : frame.newRef(fk.refColumns[i]!));
      });
      const table = graph.captured.get(fk.table);
      if (table)
        plan.steps.push({
          table,
          alias,
          from,
          where: where.join(' AND '),
          op: 'u',
          overrides,
          keyChange: table.primaryKey.some((k) => overrides.has(k)),
          path,
          reads,
        });
      walk({
        table: fk.table,
        oldRef: col,
        newRef: (c) => overrides.get(c) ?? col(c),
        changed: new Set(fk.columns),
        from,
        where,
        depth: frame.depth + 1,
        path,
        visited,
      });
    }
  };
  walk({
    table: root,
    oldRef: (c) => `OLD.${quoteId(c)}`,
    newRef: (c) => `NEW.${quoteId(c)}`,
    changed:
      event === 'delete' ? 'deleted' : new Set(graph.captured.get(root)?.columns.map((c) => c.name) ?? []),
    from: '',
    where: [],
    depth: 0,
    path: [],
    visited: [root],
  });
  return plan;
}

export interface CaptureLimitation {
  table: string;
  constraint: string;
  state: 'warn' | 'fail';
  detail: string;
  fix: string;
}

/**
 * What trigger capture cannot see in this graph, by table and constraint. Cascades between
 * captured tables (through uncaptured ones too) are captured; what remains is listed here.
 */
export function captureLimitations(graph: CaptureGraph): CaptureLimitation[] {
  const out: CaptureLimitation[] = [];
  for (const fk of graph.foreignKeys) {
    if (!graph.captured.has(fk.table)) continue;
    const cascades = acts(fk.onDelete) || acts(fk.onUpdate);
    if (!cascades) continue;
    const rules = `ON DELETE ${fk.onDelete} ON UPDATE ${fk.onUpdate}`;
    if (fk.refDatabase !== graph.database) {
      out.push({
        table: fk.table,
        constraint: fk.name,
        state: 'fail',
        detail: `${fk.table}.${fk.name} references ${fk.refDatabase}.${fk.refTable} (${rules}) in another database: rows of ${fk.table} changed by that cascade are not captured`,
        fix: `make the constraint RESTRICT and change ${fk.table} explicitly, or capture ${fk.refDatabase} with the same pipeline's triggers`,
      });
    }
  }
  for (const [name] of graph.captured) {
    for (const event of ['delete', 'update'] as const) {
      const plan = cascadePlan(graph, name, event);
      // Two steps on one table are two different sets of rows when one path continues the other
      // (a self-referencing tree: children, then grandchildren); otherwise they may overlap.
      const seen = new Map<string, CascadeStep>();
      for (const step of plan.steps) {
        const first = seen.get(step.table.name);
        if (!first) {
          seen.set(step.table.name, step);
          continue;
        }
        if (first.path.every((p, i) => step.path[i] === p)) continue;
        out.push({
          table: step.table.name,
          constraint: `${first.path.at(-1)} and ${step.path.at(-1)}`,
          state: 'fail',
          detail: `${event === 'delete' ? 'a DELETE' : 'an UPDATE'} of ${name} reaches ${step.table.name} along two cascading paths (${first.path.join(' -> ')}; ${step.path.join(' -> ')}): a row reached along both gets two events built from the same before image, so the sinks can end with only one of the changes`,
          fix: `make one of the two constraints RESTRICT (and change those rows explicitly)`,
        });
        break;
      }
      if (plan.truncated)
        out.push({
          table: name,
          constraint: plan.steps.at(-1)?.path.at(-1) ?? '(cycle)',
          state: 'fail',
          detail: `the ${event === 'delete' ? 'ON DELETE' : 'ON UPDATE'} cascades from ${name} form a cycle that branches past ${MAX_CASCADE_STEPS} generated reads before InnoDB's depth limit: rows changed past that point are not captured`,
          fix: 'make one constraint of the cycle RESTRICT (and change those rows explicitly), or reduce the cascading constraints between these tables',
        });
      else if (plan.cyclic)
        out.push({
          table: name,
          constraint: plan.steps.find((s) => s.table.name === name)?.path.at(-1) ?? '(cycle)',
          state: 'warn',
          detail: `the ${event === 'delete' ? 'ON DELETE' : 'ON UPDATE'} cascades from ${name} are self-referencing or cyclic: captured to ${MAX_CASCADE_DEPTH} levels, deeper than InnoDB cascades (it fails the statement past 14); every ${event} of a ${name} row runs ${plan.steps.length} extra reads`,
          fix: 'nothing to do unless that write cost matters',
        });
    }
  }
  return out;
}

/**
 * Captured tables changed by a cascade from a table that is not captured: a DELETE or UPDATE on
 * that parent runs no syncline trigger, so nothing sees the cascade.
 */
export function uncapturedParents(graph: CaptureGraph, allTables: readonly string[]): CaptureLimitation[] {
  const out: CaptureLimitation[] = [];
  for (const fk of graph.foreignKeys) {
    if (!graph.captured.has(fk.table) || fk.refDatabase !== graph.database) continue;
    if (!(acts(fk.onDelete) || acts(fk.onUpdate)) || graph.captured.has(fk.refTable)) continue;
    out.push({
      table: fk.table,
      constraint: fk.name,
      state: 'fail',
      detail: `${fk.table}.${fk.name} (ON DELETE ${fk.onDelete} ON UPDATE ${fk.onUpdate}) follows ${fk.refTable}, which is not captured: rows of ${fk.table} that this cascade deletes or changes are not captured`,
      fix: allTables.includes(fk.refTable)
        ? `add ${fk.refTable} to source.tables (its triggers then capture the cascade), or make the constraint RESTRICT`
        : 'make the constraint RESTRICT',
    });
  }
  return out;
}
