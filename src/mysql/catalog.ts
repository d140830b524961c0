// Reads table definitions from information_schema and classifies every column into a ColumnKind.
import type { Connection, Pool, RowDataPacket } from 'mysql2/promise';
import type { ColumnKind, ColumnSchema, TableSchema } from '../model/types.ts';

/** Tables syncline itself owns in the source database; never captured. */
export const INTERNAL_TABLE_PREFIX = '_syncline_';

export class CatalogError extends Error {
  override name = 'CatalogError';
}

type Queryable = Connection | Pool;

interface ColumnRow extends RowDataPacket {
  table_name: string;
  column_name: string;
  ordinal_position: number;
  data_type: string;
  column_type: string;
  is_nullable: string;
  numeric_precision: string | number | null;
  numeric_scale: string | number | null;
  datetime_precision: string | number | null;
  character_maximum_length: string | number | null;
}

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

/** Parse `enum('a','b''c')` / `set(...)` value lists. */
export function parseValueList(columnType: string): string[] {
  const open = columnType.indexOf('(');
  const body = columnType.slice(open + 1, columnType.lastIndexOf(')'));
  const values: string[] = [];
  let i = 0;
  while (i < body.length) {
    if (body[i] !== "'") {
      i++;
      continue;
    }
    let value = '';
    i++;
    while (i < body.length) {
      if (body[i] === "'" && body[i + 1] === "'") {
        value += "'";
        i += 2;
      } else if (body[i] === '\\' && i + 1 < body.length) {
        value += body[i + 1];
        i += 2;
      } else if (body[i] === "'") {
        i++;
        break;
      } else {
        value += body[i];
        i++;
      }
    }
    values.push(value);
  }
  return values;
}

const SPATIAL = new Set([
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
  'geomcollection',
]);

/** Classify one column. `jsonColumns` are the MariaDB LONGTEXT columns guarded by json_valid(). */
export function classify(dataType: string, columnType: string, isJsonCheck: boolean): ColumnKind {
  const t = dataType.toLowerCase();
  const ct = columnType.toLowerCase();
  const unsigned = /\bunsigned\b/.test(ct);
  switch (t) {
    case 'tinyint':
      return /^tinyint\(1\)/.test(ct) ? 'bool' : 'int';
    case 'smallint':
    case 'mediumint':
    case 'int':
    case 'integer':
      return 'int';
    case 'bigint':
      return unsigned ? 'bigint_unsigned' : 'bigint';
    case 'decimal':
    case 'numeric':
      return 'decimal';
    case 'float':
      return 'float';
    case 'double':
    case 'real':
      return 'double';
    case 'bit':
      return /^bit\(1\)$/.test(ct) ? 'bit1' : 'bitn';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'timestamp':
      return 'timestamp';
    case 'time':
      return 'time';
    case 'year':
      return 'year';
    case 'char':
    case 'varchar':
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext':
    case 'uuid':
    case 'inet4':
    case 'inet6':
      return isJsonCheck ? 'json' : 'string';
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
      return 'binary';
    case 'enum':
      return 'enum';
    case 'set':
      return 'set';
    case 'json':
      return 'json';
    default:
      if (SPATIAL.has(t)) return 'geometry';
      throw new CatalogError(`unsupported column type ${columnType}`);
  }
}

/** BIT width, from `bit(5)`. */
function bitWidth(columnType: string): number | null {
  const m = /^bit\((\d+)\)/i.exec(columnType);
  return m ? Number(m[1]) : null;
}

async function jsonCheckedColumns(db: Queryable, database: string): Promise<Set<string>> {
  // MariaDB declares JSON as LONGTEXT + CHECK (json_valid(`col`)); MySQL has a real JSON type and
  // no TABLE_NAME/LEVEL columns here, so a failing query simply means "none".
  try {
    const [rows] = await db.query<RowDataPacket[]>(
      'SELECT TABLE_NAME AS t, CHECK_CLAUSE AS c FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?',
      [database],
    );
    const out = new Set<string>();
    for (const row of rows) {
      const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(String(row.c).trim());
      if (m && m[1]) out.add(`${row.t}\u0000${m[1].replaceAll('``', '`')}`);
    }
    return out;
  } catch {
    return new Set();
  }
}

/** All base tables of a database except syncline's own. */
export async function listTables(db: Queryable, database: string): Promise<string[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    [database],
  );
  return rows.map((r) => String(r.t)).filter((t) => !t.startsWith(INTERNAL_TABLE_PREFIX));
}

export interface ReadCatalogOptions {
  /** Table names, or '*' for every base table. */
  tables: string[] | '*';
  /** Refuse tables without a primary key (true for captured tables). */
  requirePrimaryKey?: boolean;
}

/** Read the schemas of the selected tables. Missing tables and missing primary keys are errors. */
export async function readCatalog(
  db: Queryable,
  database: string,
  options: ReadCatalogOptions,
): Promise<TableSchema[]> {
  const [dbRows] = await db.query<RowDataPacket[]>(
    'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [database],
  );
  if (dbRows.length === 0)
    throw new CatalogError(`database ${database} does not exist on the source server (source.database)`);

  const all = await listTables(db, database);
  const names = options.tables === '*' ? all : options.tables;
  const missing = names.filter((n) => !all.includes(n));
  if (missing.length > 0) {
    throw new CatalogError(
      `table${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found in database ${database} (source.tables); existing tables: ${all.join(', ') || '(none)'}`,
    );
  }
  if (names.length === 0) return [];

  const [columnRows] = await db.query<ColumnRow[]>(
    `SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, ORDINAL_POSITION AS ordinal_position,
            DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, IS_NULLABLE AS is_nullable,
            NUMERIC_PRECISION AS numeric_precision, NUMERIC_SCALE AS numeric_scale,
            DATETIME_PRECISION AS datetime_precision, CHARACTER_MAXIMUM_LENGTH AS character_maximum_length
       FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?)
      ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [database, names],
  );
  const [keyRows] = await db.query<RowDataPacket[]>(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c
       FROM information_schema.KEY_COLUMN_USAGE
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?) AND CONSTRAINT_NAME = 'PRIMARY'
      ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [database, names],
  );
  const jsonChecks = await jsonCheckedColumns(db, database);

  const tables: TableSchema[] = [];
  for (const name of names) {
    const columns: ColumnSchema[] = columnRows
      .filter((r) => r.table_name === name)
      .map((r) => {
        const dataType = String(r.data_type).toLowerCase();
        const columnType = String(r.column_type);
        let kind: ColumnKind;
        try {
          kind = classify(dataType, columnType, jsonChecks.has(`${name}\u0000${r.column_name}`));
        } catch (err) {
          throw new CatalogError(`table ${name}, column ${r.column_name}: ${(err as Error).message}`);
        }
        const column: ColumnSchema = {
          name: r.column_name,
          position: Number(r.ordinal_position),
          dataType,
          columnType,
          kind,
          nullable: r.is_nullable === 'YES',
          fsp: ['datetime', 'timestamp', 'time'].includes(kind) ? (num(r.datetime_precision) ?? 0) : 0,
          precision:
            kind === 'bitn' || kind === 'bit1'
              ? bitWidth(columnType)
              : num(r.numeric_precision ?? r.character_maximum_length),
          scale: num(r.numeric_scale),
        };
        if (kind === 'enum' || kind === 'set') column.values = parseValueList(columnType);
        return column;
      });
    const primaryKey = keyRows.filter((r) => r.t === name).map((r) => String(r.c));
    if (options.requirePrimaryKey !== false && primaryKey.length === 0) {
      throw new CatalogError(
        `table ${database}.${name} has no primary key, so its rows cannot be identified downstream: add one (ALTER TABLE ... ADD PRIMARY KEY (...)) or leave the table out of source.tables`,
      );
    }
    tables.push({ database, name, columns, primaryKey });
  }
  return tables;
}

/** What InnoDB does to the referencing rows when a referenced row is deleted or its key changed. */
export type ForeignKeyRule = 'CASCADE' | 'SET NULL' | 'RESTRICT' | 'NO ACTION' | 'SET DEFAULT';

export interface ForeignKey {
  name: string;
  /** The referencing (child) table, in `database`. */
  table: string;
  columns: string[];
  refDatabase: string;
  refTable: string;
  /** Referenced columns, in the order matching `columns`. */
  refColumns: string[];
  onDelete: ForeignKeyRule;
  onUpdate: ForeignKeyRule;
}

/**
 * Foreign keys that touch `database`: those declared on its tables (including ones referencing
 * another database) and those of other databases referencing its tables.
 */
export async function readForeignKeys(db: Queryable, database: string): Promise<ForeignKey[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT rc.CONSTRAINT_SCHEMA AS db, rc.CONSTRAINT_NAME AS name, rc.TABLE_NAME AS t,
            rc.UPDATE_RULE AS upd, rc.DELETE_RULE AS del,
            k.COLUMN_NAME AS c, k.REFERENCED_TABLE_SCHEMA AS rdb, k.REFERENCED_TABLE_NAME AS rt,
            k.REFERENCED_COLUMN_NAME AS rc
       FROM information_schema.REFERENTIAL_CONSTRAINTS rc
       JOIN information_schema.KEY_COLUMN_USAGE k
         ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME
        AND k.TABLE_NAME = rc.TABLE_NAME AND k.REFERENCED_TABLE_NAME IS NOT NULL
      WHERE rc.CONSTRAINT_SCHEMA = ? OR rc.UNIQUE_CONSTRAINT_SCHEMA = ?
      ORDER BY rc.CONSTRAINT_SCHEMA, rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
    [database, database],
  );
  const byName = new Map<string, ForeignKey & { db: string }>();
  for (const r of rows) {
    const id = `${r.db}\u0000${r.t}\u0000${r.name}`;
    let fk = byName.get(id);
    if (!fk) {
      fk = {
        db: String(r.db),
        name: String(r.name),
        table: String(r.t),
        columns: [],
        refDatabase: String(r.rdb),
        refTable: String(r.rt),
        refColumns: [],
        onDelete: String(r.del).toUpperCase() as ForeignKeyRule,
        onUpdate: String(r.upd).toUpperCase() as ForeignKeyRule,
      };
      byName.set(id, fk);
    }
    fk.columns.push(String(r.c));
    fk.refColumns.push(String(r.rc));
  }
  // Children in other databases are not captured here; keep only the ones declared in `database`.
  return [...byName.values()].filter((fk) => fk.db === database).map(({ db: _db, ...fk }) => fk);
}
