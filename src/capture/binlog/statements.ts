// Statements the binlog carries as text (QUERY events) that this reader must understand: TRUNCATE
// empties a table without writing a row event.

const IDENT = '`(?:[^`]|``)+`|"(?:[^"]|"")+"|[0-9A-Za-z_$\\u0080-\\uFFFF]+';
const TRUNCATE = new RegExp(
  `^TRUNCATE\\s+(?:TABLE\\s+)?(${IDENT})(?:\\s*\\.\\s*(${IDENT}))?(?:\\s+(?:WAIT\\s+\\d+|NOWAIT))?\\s*;?$`,
  'iu',
);

function unquote(ident: string): string {
  if (ident.startsWith('`')) return ident.slice(1, -1).replaceAll('``', '`');
  if (ident.startsWith('"')) return ident.slice(1, -1).replaceAll('""', '"');
  return ident;
}

/** Leading comments and whitespace, which clients and the server may put before a statement. */
function stripLeadingComments(sql: string): string {
  let s = sql.trim();
  for (;;) {
    if (s.startsWith('/*')) {
      const end = s.indexOf('*/');
      if (end < 0) return s;
      s = s.slice(end + 2).trimStart();
    } else if (s.startsWith('-- ') || s.startsWith('#')) {
      const end = s.indexOf('\n');
      if (end < 0) return '';
      s = s.slice(end + 1).trimStart();
    } else return s;
  }
}

/** The table a `TRUNCATE [TABLE] [db.]t` statement empties, or null for any other statement. */
export function truncatedTable(sql: string, defaultSchema: string): { schema: string; table: string } | null {
  const m = TRUNCATE.exec(stripLeadingComments(sql));
  if (!m) return null;
  return m[2] === undefined
    ? { schema: defaultSchema, table: unquote(m[1]!) }
    : { schema: unquote(m[1]!), table: unquote(m[2]) };
}
