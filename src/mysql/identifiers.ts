// Quoting for generated SQL. Trigger bodies and snapshot SELECTs are built from catalog names,
// which may contain anything MySQL allows (backticks, quotes, spaces, unicode, reserved words).

/** Quote an identifier: backticks doubled, wrapped in backticks. */
export function quoteId(name: string): string {
  if (name.length === 0) throw new Error('empty SQL identifier');
  if (name.includes('\u0000'))
    throw new Error(`SQL identifier contains a NUL character: ${JSON.stringify(name)}`);
  return '`' + name.replaceAll('`', '``') + '`';
}

/** `db`.`table` */
export function quoteQualified(database: string, table: string): string {
  return `${quoteId(database)}.${quoteId(table)}`;
}

/**
 * A string literal that is safe whatever the session's sql_mode (NO_BACKSLASH_ESCAPES changes how
 * backslashes are read, so non-ASCII-safe characters are emitted as a hex literal instead).
 */
export function quoteString(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value) && !value.includes('\\') && !value.includes("'")) return `'${value}'`;
  return `CONVERT(X'${Buffer.from(value, 'utf8').toString('hex')}' USING utf8mb4)`;
}
