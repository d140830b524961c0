// Column values as the binlog decoder hands them over → the contract's JSON text
// (contract/README.md, "Row-image representation"). The trigger SQL (src/model/row-image-sql.ts)
// is the reference: both modes must produce the same bytes for the same row, so numbers and
// strings are printed the way MariaDB's JSON_OBJECT prints them, not the way JSON.stringify does.
import { compactJson } from '../../model/event.ts';

export type BinlogValueKind =
  | 'int'
  | 'year'
  | 'bigint'
  | 'decimal'
  | 'float'
  | 'double'
  | 'bit'
  | 'date'
  | 'datetime'
  | 'timestamp'
  | 'time'
  /** CHAR/VARCHAR/TEXT/BINARY/BLOB: text arrives as a string, bytes as a Buffer. */
  | 'string'
  | 'enum'
  | 'set'
  | 'json'
  /** The raw column bytes: 4 bytes of SRID, then WKB. */
  | 'geometry';

export interface BinlogColumn {
  name: string;
  kind: BinlogValueKind;
  /** BIT width. */
  bits?: number;
  /** A text column holding JSON (MariaDB declares JSON as LONGTEXT CHECK (json_valid(...))). */
  json?: boolean;
}

/**
 * A double as MariaDB's JSON functions print it: the shortest digits that read back as the same
 * double, in plain notation unless the decimal exponent is below -15, or the number is an integer
 * of more than 15 digits whose digits end before the decimal point (measured against MariaDB
 * 10.11: 1e-15 → 0.000000000000001, 1e-16 → 1e-16, 1e14 → 100000000000000, 1e15 → 1e15,
 * 1234567890123456.8 stays plain).
 */
export function formatDouble(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return 'null';
  const [mantissa, exp] = x.toExponential().split('e') as [string, string];
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace(/^-/, '').replace('.', '');
  const e = Number(exp);
  const decpt = e + 1;
  const sign = negative ? '-' : '';
  if (decpt <= -15 || (decpt > 15 && decpt >= digits.length)) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/**
 * A FLOAT as the trigger SQL writes it: MySQL's 6-significant-digit text when that reads back as
 * the stored float (0.1, -19.99), else the float's exact value as a double.
 */
export function formatFloat(x: number): string {
  const short = Number(x.toPrecision(6));
  return formatDouble(Math.fround(short) === x ? short : x);
}

/** A JSON string as MariaDB's JSON_OBJECT writes it (control characters as upper-case \u00XX). */
export function jsonString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/["\\\u0000-\u001f]/g, (c) => {
    switch (c) {
      case '"':
        return '\\"';
      case '\\':
        return '\\\\';
      case '\b':
        return '\\b';
      case '\f':
        return '\\f';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    }
  })}"`;
}

// Zero and partly zero dates ('0000-00-00', '2024-00-10') are not dates downstream: null, as in
// the trigger SQL.
const ZERO_DATE = /^\d{4}-(00-\d\d|\d\d-00)/;

function asBuffer(v: unknown): Buffer | null {
  return Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v) : null;
}

/** One column value as contract JSON text. */
export function valueJson(column: BinlogColumn, v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return column.kind === 'enum' ? '""' : 'null';
  switch (column.kind) {
    case 'int':
      return String(v);
    case 'year':
      // The decoder adds 1900 to the stored byte; YEAR 0000 is stored as 0.
      return Number(v) === 1900 ? '0' : String(v);
    case 'bigint':
      return `"${String(v)}"`;
    case 'decimal':
      return jsonString(String(v));
    case 'float':
      return formatFloat(Number(v));
    case 'double':
      return formatDouble(Number(v));
    case 'bit': {
      const buf = asBuffer(v);
      const n = buf ? (buf.length ? BigInt(`0x${buf.toString('hex')}`) : 0n) : BigInt(v as number);
      return column.bits === 1 ? (n === 0n ? 'false' : 'true') : `"${n}"`;
    }
    case 'date':
    case 'datetime':
    case 'timestamp': {
      const s = String(v);
      if (ZERO_DATE.test(s)) return 'null';
      if (column.kind === 'date') return jsonString(s);
      return jsonString(`${s.replace(' ', 'T')}${column.kind === 'timestamp' ? 'Z' : ''}`);
    }
    case 'time':
    case 'enum':
    case 'set':
      return jsonString(String(v));
    case 'json': {
      const buf = asBuffer(v);
      return compactJson(buf ? buf.toString('utf8') : String(v));
    }
    case 'geometry': {
      const buf = asBuffer(v);
      if (!buf) throw new Error(`column ${column.name}: expected the raw bytes of a geometry value`);
      return jsonString(buf.subarray(4).toString('base64'));
    }
    case 'string': {
      const buf = asBuffer(v);
      if (buf) return jsonString(buf.toString('base64'));
      const s = String(v);
      return column.json ? compactJson(s) : jsonString(s);
    }
  }
}

/** `{"col":value,...}` over the given column indexes, in that order. */
export function imageJson(
  columns: readonly BinlogColumn[],
  values: readonly unknown[],
  which?: readonly number[],
): string {
  const parts: string[] = [];
  const indexes = which ?? columns.map((_, i) => i);
  for (const i of indexes) {
    const column = columns[i]!;
    parts.push(`${jsonString(column.name)}:${valueJson(column, values[i])}`);
  }
  return `{${parts.join(',')}}`;
}
