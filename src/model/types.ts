// The shared description of a captured table. Every stage (triggers, snapshot, binlog, the Spark
// job description, verify) works from these types, so a column is classified exactly once.

/**
 * How a column is represented in a row image (contract/README.md). The Spark job and the sinks
 * switch on these exact names.
 */
export const COLUMN_KINDS = [
  'int',
  'bigint',
  'bigint_unsigned',
  'decimal',
  'float',
  'double',
  'bit1',
  'bitn',
  'bool',
  'date',
  'datetime',
  'timestamp',
  'time',
  'year',
  'string',
  'binary',
  'enum',
  'set',
  'json',
  'geometry',
] as const;

export type ColumnKind = (typeof COLUMN_KINDS)[number];

export interface ColumnSchema {
  name: string;
  /** 1-based position in the table. */
  position: number;
  /** information_schema DATA_TYPE, lower case (e.g. `varchar`, `longtext`). */
  dataType: string;
  /** information_schema COLUMN_TYPE, e.g. `decimal(65,30)`, `bigint(20) unsigned`. */
  columnType: string;
  kind: ColumnKind;
  nullable: boolean;
  /** Fractional seconds digits for datetime/timestamp/time, else 0. */
  fsp: number;
  /** DECIMAL precision/scale, BIT width, string length; null when not applicable. */
  precision: number | null;
  scale: number | null;
  /** Allowed values of ENUM and SET columns, in declaration order. */
  values?: string[];
}

export interface TableSchema {
  database: string;
  name: string;
  /** All columns in table order. */
  columns: ColumnSchema[];
  /** Primary-key column names in key order. */
  primaryKey: string[];
}

export function keyColumns(table: TableSchema): ColumnSchema[] {
  return table.primaryKey.map((name) => {
    const column = table.columns.find((c) => c.name === name);
    if (!column) throw new Error(`table ${table.name}: primary-key column ${name} is not among its columns`);
    return column;
  });
}
