// The one place where a row image is written in SQL. Triggers (NEW./OLD. references) and the
// snapshot (a SELECT over the table) both call these functions, so the two can never disagree on
// how a value is represented (contract/README.md, "Row-image representation").
import type { ColumnSchema, TableSchema } from './types.ts';
import { keyColumns } from './types.ts';
import { quoteId, quoteString } from '../mysql/identifiers.ts';

/** SQL that reads a column: `NEW.\`c\``, `OLD.\`c\``, or `alias.\`c\`` / plain `\`c\`` for a SELECT. */
export function columnRef(prefix: string | null, column: string): string {
  return prefix ? `${prefix}.${quoteId(column)}` : quoteId(column);
}

// TO_BASE64 wraps its output every 76 characters; the contract wants one unbroken string.
const base64 = (expr: string): string => `REPLACE(TO_BASE64(${expr}), '\\n', '')`;

function fraction(fsp: number): string {
  return fsp > 0 ? `.%f` : '';
}

// Zero and partly zero dates ('0000-00-00', '2024-00-10'), which MariaDB accepts unless sql_mode
// has NO_ZERO_DATE / NO_ZERO_IN_DATE, are not dates anywhere downstream: they become null.
const notZeroDate = (ref: string, expr: string): string =>
  `CASE WHEN MONTH(${ref}) = 0 OR DAYOFMONTH(${ref}) = 0 THEN NULL ELSE ${expr} END`;

/**
 * The SQL expression whose value, placed inside JSON_OBJECT, yields the contract's JSON for one
 * column. NULL stays NULL (JSON null) in every branch.
 */
export function valueExpression(column: ColumnSchema, ref: string): string {
  switch (column.kind) {
    case 'float': {
      // MySQL prints FLOAT with 6 significant digits, which does not always read back as the stored
      // float (16777216 prints as 16777200). Use that short form when it does (0.1, -19.99), else
      // the exact value as a double: either way a float32 reader gets the stored value.
      const short = `CAST(${ref} AS CHAR)`;
      return `IF(CAST(${short} AS FLOAT) = ${ref}, CAST(${short} AS DOUBLE), CAST(${ref} AS DOUBLE))`;
    }
    case 'int':
    case 'bool':
    case 'year':
    case 'double':
    case 'enum':
    case 'set':
      // Native JSON numbers / strings already match the contract.
      return ref;
    case 'string':
      // MariaDB's uuid/inet types are not character strings until cast.
      return ['uuid', 'inet4', 'inet6'].includes(column.dataType) ? `CAST(${ref} AS CHAR)` : ref;
    case 'bigint':
    case 'bigint_unsigned':
    case 'decimal':
      // Strings, because a double cannot hold them; CAST keeps DECIMAL's scale.
      return `CAST(${ref} AS CHAR)`;
    case 'bitn':
      return `CAST(${ref} + 0 AS CHAR)`;
    case 'bit1':
      // JSON_EXTRACT of the text true/false makes a real JSON boolean (no SQL boolean type exists).
      return `JSON_EXTRACT(CASE WHEN ${ref} IS NULL THEN NULL WHEN ${ref} + 0 = 1 THEN 'true' ELSE 'false' END, '$')`;
    case 'date':
      return notZeroDate(ref, `DATE_FORMAT(${ref}, '%Y-%m-%d')`);
    case 'datetime': {
      const full = `DATE_FORMAT(${ref}, '%Y-%m-%dT%H:%i:%s${fraction(column.fsp)}')`;
      return notZeroDate(ref, column.fsp > 0 && column.fsp < 6 ? `LEFT(${full}, ${20 + column.fsp})` : full);
    }
    case 'timestamp': {
      // UNIX_TIMESTAMP of a TIMESTAMP column reads the stored UTC value whatever the writer's
      // session time_zone is; adding it to the epoch as a DATETIME gives UTC wall time.
      const utc = `DATE_ADD(TIMESTAMP'1970-01-01 00:00:00', INTERVAL UNIX_TIMESTAMP(${ref}) * 1000000 MICROSECOND)`;
      const full = `DATE_FORMAT(${utc}, '%Y-%m-%dT%H:%i:%s${fraction(column.fsp)}')`;
      const cut = column.fsp > 0 && column.fsp < 6 ? `LEFT(${full}, ${20 + column.fsp})` : full;
      return notZeroDate(ref, `CONCAT(${cut}, 'Z')`);
    }
    case 'time':
      return `CAST(${ref} AS CHAR)`;
    case 'binary':
      return base64(ref);
    case 'geometry':
      return base64(`ST_AsBinary(${ref})`);
    case 'json':
      // Embeds the document instead of quoting it (MariaDB stores JSON as LONGTEXT).
      return `JSON_EXTRACT(${ref}, '$')`;
  }
}

/**
 * SQL expressions that replace a column's value in an image: a row as it will be once a foreign-key
 * cascade has changed it (e.g. `parent_id` -> `NEW.\`id\`` or `NULL`), built before the change.
 */
export type ColumnOverrides = ReadonlyMap<string, string>;

function jsonObject(columns: ColumnSchema[], prefix: string | null, overrides?: ColumnOverrides): string {
  if (columns.length === 0) return 'JSON_OBJECT()';
  const parts = columns.map(
    (c) =>
      `${quoteString(c.name)}, ${valueExpression(c, overrides?.get(c.name) ?? columnRef(prefix, c.name))}`,
  );
  return `JSON_OBJECT(${parts.join(', ')})`;
}

/** JSON_OBJECT(...) over all columns in table order: the row image. */
export function rowImageExpression(
  table: TableSchema,
  prefix: string | null,
  overrides?: ColumnOverrides,
): string {
  return jsonObject(table.columns, prefix, overrides);
}

/** JSON_OBJECT(...) over the primary-key columns in key order: the Kafka message key. */
export function keyExpression(
  table: TableSchema,
  prefix: string | null,
  overrides?: ColumnOverrides,
): string {
  return jsonObject(keyColumns(table), prefix, overrides);
}
