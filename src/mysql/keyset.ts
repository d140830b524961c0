// Keyset pagination over a primary key (composite too), shared by the snapshot and verify.
import type { ColumnSchema } from '../model/types.ts';
import { quoteId } from './identifiers.ts';

// Key values are kept (in the progress table, as JSON) in a form that binds back exactly:
// bytes as hex, bits as digits, everything else as mysql2 returns it with this project's
// settings (big numbers, decimals and dates as strings).
export function keyRead(c: ColumnSchema): string {
  const ref = quoteId(c.name);
  if (c.kind === 'binary' || c.kind === 'geometry') return `HEX(${ref})`;
  if (c.kind === 'bit1' || c.kind === 'bitn') return `CAST(${ref} + 0 AS CHAR)`;
  return ref;
}

export function keyPlaceholder(c: ColumnSchema): string {
  if (c.kind === 'binary' || c.kind === 'geometry') return 'UNHEX(?)';
  if (c.kind === 'bit1' || c.kind === 'bitn') return 'CAST(? AS UNSIGNED)';
  return '?';
}

/**
 * `(k1, k2, ...) > (v1, v2, ...)` spelled out as OR/AND so that the optimizer uses the primary
 * key as a range on every server version.
 */
export function keyPredicate(columns: ColumnSchema[]): string {
  const terms: string[] = [];
  for (let i = 0; i < columns.length; i += 1) {
    const equal = columns.slice(0, i).map((c) => `${quoteId(c.name)} = ${keyPlaceholder(c)}`);
    terms.push(
      `(${[...equal, `${quoteId(columns[i]!.name)} > ${keyPlaceholder(columns[i]!)}`].join(' AND ')})`,
    );
  }
  return `(${terms.join(' OR ')})`;
}

/**
 * `(k1, k2) IN ((?, ?), ...)` for `count` keys, bound with the keys' values in column order. Both
 * server families use the primary key for it (range on row constructors; MariaDB turns long lists
 * into a join on the key), so only the listed rows are read.
 */
export function keyInList(columns: ColumnSchema[], count: number): string {
  const one =
    columns.length === 1 ? keyPlaceholder(columns[0]!) : `(${columns.map(keyPlaceholder).join(', ')})`;
  const target =
    columns.length === 1 ? quoteId(columns[0]!.name) : `(${columns.map((c) => quoteId(c.name)).join(', ')})`;
  return `${target} IN (${Array.from({ length: count }, () => one).join(', ')})`;
}

export function afterKeyParams(lastKey: unknown[]): unknown[] {
  const params: unknown[] = [];
  for (let i = 0; i < lastKey.length; i += 1) params.push(...lastKey.slice(0, i + 1));
  return params;
}
