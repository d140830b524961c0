// What the sinks should hold for a row, computed from the row image with the same rules the Spark
// job applies (docs/type-mapping.md; jvm/spark-job SinkValues), and a canonical text of stored
// values so that expected and actual compare without caring how a driver hands numbers back.
import { Binary, Decimal128, Long } from 'mongodb';
import type { ColumnKind, ColumnSchema } from '../model/types.ts';

/** Plain decimal text without exponent, without trailing fractional zeros ("1.50" → "1.5"). */
export function normDecimal(text: string): string {
  let t = text.trim();
  let sign = '';
  if (t.startsWith('-') || t.startsWith('+')) {
    sign = t[0] === '-' ? '-' : '';
    t = t.slice(1);
  }
  const m = /^(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) return text;
  let digits = `${m[1] ?? ''}${m[2] ?? ''}`;
  let point = (m[1] ?? '').length + Number(m[3] ?? 0);
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  let int = digits.slice(0, point).replace(/^0+/, '') || '0';
  const frac = digits.slice(point).replace(/0+$/, '');
  if (int === '0' && frac === '') return '0';
  if (sign && int === '0' && frac === '') sign = '';
  int = int || '0';
  return `${sign}${int}${frac ? `.${frac}` : ''}`;
}

/** Significant digits of a decimal text, as Java's BigDecimal.precision() counts them. */
function precision(text: string): number {
  const unscaled = text.replace(/^[-+]/, '').replace('.', '').replace(/^0+/, '');
  return Math.max(unscaled.length, 1);
}

function utcMillisIso(text: string): string {
  // "YYYY-MM-DDTHH:MM:SS[.ffffff][Z]" → milliseconds, as java.util.Date keeps them.
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z?$/.exec(text);
  if (!m) return `invalid:${text}`;
  const ms = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  return new Date(`${m[1]}.${ms}Z`).toISOString();
}

const SIGNED_INT64_MAX = 9223372036854775807n;

/** Canonical text of a value as the MongoDB sink stores it, computed from the row image. */
export function expectedMongo(column: Pick<ColumnSchema, 'kind' | 'columnType'>, value: unknown): string {
  if (value === null || value === undefined) return 'null';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const kind: ColumnKind = column.kind;
  switch (kind) {
    case 'int':
    case 'year':
    case 'bigint':
    case 'float':
    case 'double':
      return `n:${normDecimal(String(value))}`;
    case 'bigint_unsigned':
    case 'bitn':
      return BigInt(text) <= SIGNED_INT64_MAX ? `n:${text}` : `d:${normDecimal(text)}`;
    case 'decimal':
      return precision(text) <= 34 ? `d:${normDecimal(text)}` : `s:${text}`;
    case 'bit1':
      return value === true || value === 1 || value === '1' ? 'true' : 'false';
    case 'bool':
      return Number(value) !== 0 ? 'true' : 'false';
    case 'date':
    case 'time':
    case 'string':
    case 'enum':
      return `s:${text}`;
    case 'datetime':
    case 'timestamp':
      return `t:${utcMillisIso(text)}`;
    case 'set':
      return `[${(text === '' ? [] : text.split(',')).map((s) => `s:${s}`).join(',')}]`;
    case 'json':
      return canonicalJson(value);
    case 'binary':
    case 'geometry':
      return `b:${text}`;
  }
}

/** Canonical text of a JSON value (numbers by value, object keys sorted). */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' || typeof value === 'bigint') return `n:${normDecimal(String(value))}`;
  if (typeof value === 'string') return `s:${value}`;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
    .join(',')}}`;
}

/** Canonical text of a value read back from MongoDB (driver with useBigInt64). */
export function canonicalBson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' || typeof value === 'bigint') return `n:${normDecimal(String(value))}`;
  if (typeof value === 'string') return `s:${value}`;
  if (value instanceof Long) return `n:${value.toString()}`;
  if (value instanceof Decimal128) return `d:${normDecimal(value.toString())}`;
  if (value instanceof Date) return `t:${value.toISOString()}`;
  if (value instanceof Binary) return `b:${Buffer.from(value.buffer).toString('base64')}`;
  if (Array.isArray(value)) return `[${value.map(canonicalBson).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalBson(obj[k])}`)
      .join(',')}}`;
  }
  return `?:${String(value)}`;
}

/** The `_id` value to query MongoDB with, typed as the sink writes it. */
export function mongoIdValue(column: Pick<ColumnSchema, 'kind'>, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (column.kind) {
    case 'bigint':
      return BigInt(String(value));
    case 'bigint_unsigned':
    case 'bitn':
      return BigInt(String(value)) <= SIGNED_INT64_MAX
        ? BigInt(String(value))
        : Decimal128.fromString(String(value));
    case 'decimal':
      return Decimal128.fromString(String(value));
    case 'datetime':
    case 'timestamp':
      return new Date(utcMillisIso(String(value)));
    case 'binary':
    case 'geometry':
      return new Binary(Buffer.from(String(value), 'base64'));
    case 'bit1':
      return value === true;
    case 'bool':
      return Number(value) !== 0;
    default:
      return value;
  }
}

/** A row-image value as the Redis sink writes it into a hash field (undefined: no field). */
export function redisText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Canonical text for comparing a Redis field with the row-image value it came from. */
export function canonicalRedis(kind: ColumnKind, text: string | undefined): string {
  if (text === undefined) return 'absent';
  if (kind === 'float' || kind === 'double') return `n:${normDecimal(String(Number(text)))}`;
  if (kind === 'json') {
    try {
      return canonicalJson(JSON.parse(text));
    } catch {
      return `s:${text}`;
    }
  }
  return `s:${text}`;
}

/** `{table}:{key}`-style templates, with key parts escaped as the sink escapes them. */
export function redisKey(
  template: string,
  names: { table: string; db: string },
  keyColumns: string[],
  keyValues: unknown[],
): string {
  const parts = keyValues.map((v) =>
    (redisText(v) ?? 'null')
      .replace(/%/g, '%25')
      .replace(/\{/g, '%7B')
      .replace(/\}/g, '%7D')
      .replace(/:/g, '%3A'),
  );
  return template.replace(/\{([^}]+)\}/g, (whole, name: string) => {
    if (name === 'table') return names.table;
    if (name === 'db') return names.db;
    if (name === 'key') return parts.join(':');
    const i = keyColumns.indexOf(name);
    return i >= 0 ? parts[i]! : whole;
  });
}
