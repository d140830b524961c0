// `syncline ddl`: apply a user's ALTER TABLE to a captured table and swap its capture triggers in
// the same table-lock window, so that no write meets triggers naming a column that is gone
// (docs/decisions/0024-ddl-without-failed-writes.md).
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { TableSchema } from '../../model/types.ts';
import { INTERNAL_TABLE_PREFIX, listTables, readCatalog } from '../../mysql/catalog.ts';
import { isMariaDb, mysqlErrno } from '../../mysql/connect.ts';
import { quoteId } from '../../mysql/identifiers.ts';
import { TRIGGER_EVENTS, dropTriggerSql, schemaHash } from './ddl.ts';
import {
  cascadeParentsOf,
  recordInstalled,
  refreshTriggers,
  replaceTriggers,
  triggerStatus,
} from './install.ts';

/** Refused before anything was touched: the statement is not one syncline ddl should run. */
export class DdlRefusedError extends Error {
  override name = 'DdlRefusedError';
}

/** Something went wrong while applying; the message says what state the table and triggers are in. */
export class DdlError extends Error {
  override name = 'DdlError';
}

export interface AlterTarget {
  /** Null when the statement names the table without a database. */
  database: string | null;
  table: string;
}

export interface ParseOptions {
  /** sql_mode ANSI_QUOTES: "x" is an identifier, not a string. */
  ansiQuotes?: boolean;
  /** sql_mode NO_BACKSLASH_ESCAPES: a backslash inside a string is an ordinary character. */
  noBackslashEscapes?: boolean;
}

interface Token {
  kind: 'word' | 'ident' | 'string' | 'punct';
  text: string;
}

const RUN_IT_YOURSELF = 'run it with your usual MySQL client instead';

function refuse(message: string): never {
  throw new DdlRefusedError(message);
}

function isWordChar(ch: string): boolean {
  return /[0-9A-Za-z$_]/.test(ch) || ch.codePointAt(0)! >= 0x80;
}

/** Read a quoted run starting at `start` (on the opening quote); returns [content, next index]. */
function readQuoted(sql: string, start: number, quote: string, backslash: boolean): [string, number] {
  let out = '';
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (backslash && ch === '\\' && i + 1 < sql.length) {
      out += sql[i + 1];
      i += 2;
      continue;
    }
    if (ch === quote) {
      if (sql[i + 1] === quote) {
        out += quote;
        i += 2;
        continue;
      }
      return [out, i + 1];
    }
    out += ch;
    i += 1;
  }
  const what = quote === '`' ? 'a backtick-quoted name' : 'a quoted string';
  return refuse(`the statement ends inside ${what} (opened at character ${start + 1}): close the quote`);
}

/**
 * Just enough of MySQL's lexer to find the statement's words and names: quoted names, strings and
 * comments are read whole, so a ';' or a keyword inside them is not mistaken for syntax.
 */
function tokenize(sql: string, options: ParseOptions): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1] ?? '';
    if (/\s/.test(ch)) {
      i += 1;
    } else if (ch === '#' || (ch === '-' && next === '-' && /^[\s]?$/.test(sql[i + 2] ?? ''))) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (ch === '/' && next === '*') {
      // The server executes the inside of /*! ... */ and /*M! ... */: what it holds cannot be
      // checked without parsing SQL for real, so such comments are refused rather than skipped.
      if (sql[i + 2] === '!' || (sql[i + 2] === 'M' && sql[i + 3] === '!'))
        refuse(
          'executable comments (/*! ... */) are not accepted: write the statement without them, so that what syncline checks is what the server runs',
        );
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) refuse(`the statement ends inside a /* comment (opened at character ${i + 1})`);
      i = end + 2;
    } else if (ch === '`') {
      const [text, after] = readQuoted(sql, i, '`', false);
      tokens.push({ kind: 'ident', text });
      i = after;
    } else if (ch === "'" || ch === '"') {
      const [text, after] = readQuoted(sql, i, ch, !options.noBackslashEscapes);
      tokens.push({ kind: ch === '"' && options.ansiQuotes ? 'ident' : 'string', text });
      i = after;
    } else if (isWordChar(ch)) {
      let j = i;
      while (j < sql.length && isWordChar(sql[j]!)) j += 1;
      tokens.push({ kind: 'word', text: sql.slice(i, j) });
      i = j;
    } else {
      tokens.push({ kind: 'punct', text: ch });
      i += 1;
    }
  }
  return tokens;
}

function isWord(token: Token | undefined, word: string): boolean {
  return token?.kind === 'word' && token.text.toUpperCase() === word;
}

function describe(token: Token): string {
  return token.kind === 'word' ? token.text.toUpperCase() : JSON.stringify(token.text);
}

/**
 * Which table an ALTER TABLE statement alters. Only the head of the statement is parsed: the rest
 * goes to the server unchanged, which is the judge of its syntax. Refuses anything that is not
 * exactly one ALTER TABLE, and table renames (the triggers and the sinks are per table name).
 */
export function parseAlterTable(sql: string, options: ParseOptions = {}): AlterTarget {
  const tokens = tokenize(sql, options);
  if (tokens.length === 0) refuse('the statement is empty: pass one ALTER TABLE statement');

  const semicolon = tokens.findIndex((t) => t.kind === 'punct' && t.text === ';');
  if (semicolon !== -1 && semicolon < tokens.length - 1)
    refuse(
      'more than one statement: syncline ddl applies exactly one ALTER TABLE; run the others separately',
    );
  const body = semicolon === -1 ? tokens : tokens.slice(0, semicolon);

  let i = 0;
  if (!isWord(body[i], 'ALTER')) {
    const first = body[0] ? describe(body[0]) : 'nothing';
    const hint = isWord(body[0], 'CREATE') ? ' (`run` picks up new tables and new columns by itself)' : '';
    refuse(
      `syncline ddl applies one ALTER TABLE statement, and this one starts with ${first}: ${RUN_IT_YOURSELF}${hint}`,
    );
  }
  i += 1;
  while (isWord(body[i], 'ONLINE') || isWord(body[i], 'IGNORE')) i += 1;
  if (!isWord(body[i], 'TABLE')) {
    const what = body[i] ? `ALTER ${describe(body[i]!)}` : 'a bare ALTER';
    refuse(`syncline ddl applies ALTER TABLE statements only, and this is ${what}: ${RUN_IT_YOURSELF}`);
  }
  i += 1;
  if (isWord(body[i], 'IF') && isWord(body[i + 1], 'EXISTS')) i += 2;

  const readName = (): string => {
    const token = body[i];
    if (!token || (token.kind !== 'word' && token.kind !== 'ident'))
      refuse(
        `expected the table name after ALTER TABLE, found ${token ? describe(token) : 'the end of the statement'}`,
      );
    if (token.text.length === 0) refuse('the table name is empty (``): name the table to alter');
    i += 1;
    return token.text;
  };
  let database: string | null = null;
  let table = readName();
  if (body[i]?.kind === 'punct' && body[i]!.text === '.') {
    i += 1;
    database = table;
    table = readName();
  }
  if (i >= body.length) refuse(`the statement names table ${table} but no change to make`);

  for (let k = i; k < body.length; k++) {
    if (!isWord(body[k], 'RENAME')) continue;
    const next = body[k + 1];
    if (isWord(next, 'COLUMN') || isWord(next, 'INDEX') || isWord(next, 'KEY')) continue;
    refuse(
      'renaming a captured table is not supported by syncline ddl (its triggers, topic and sink collections are named after the table): take the table out of source.tables, rename it yourself, then add the new name',
    );
  }
  return { database, table };
}

export interface ApplyDdlOptions {
  /** How long to wait for the table lock (MySQL lock_wait_timeout) before giving up. */
  lockWaitSeconds: number;
}

export interface ApplyDdlResult {
  database: string;
  table: string;
  /** regenerated: new triggers for the new shape; none: the table had no capture triggers. */
  triggers: 'regenerated' | 'none';
  columns: string[];
  /** How long taking the lock took (writers to the table queue behind it meanwhile). */
  lockWaitMs: number;
  /** How long the table was locked: writers to it waited at most lockWaitMs + lockedMs. */
  lockedMs: number;
}

const ER_LOCK_WAIT_TIMEOUT = 1205;

async function catalogOf(conn: Connection, database: string, table: string): Promise<TableSchema> {
  const [schema] = await readCatalog(conn, database, { tables: [table], requirePrimaryKey: false });
  return schema!;
}

/**
 * Under the table lock, after the ALTER: replace the triggers with ones for the new shape. If that
 * cannot be done, leave the table in the state in which writes still succeed, and say which.
 */
async function swapTriggers(
  conn: Connection,
  before: TableSchema,
  after: TableSchema,
  mariadb: boolean,
): Promise<void> {
  let reason: string;
  if (after.primaryKey.length === 0) {
    reason = 'the table has no primary key any more, so its rows cannot be identified downstream';
  } else {
    try {
      await replaceTriggers(conn, after, mariadb);
      return;
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  const name = `${before.database}.${after.name}`;
  const remaining = new Set(after.columns.map((c) => c.name));
  const gone = before.columns.map((c) => c.name).filter((c) => !remaining.has(c));
  if (gone.length === 0 && mariadb) {
    throw new DdlError(
      `the ALTER was applied to ${name}, but its capture triggers could not be regenerated: ${reason}. The previous triggers stay; every column they name still exists, so writes to ${after.name} do not fail, but changed columns are captured in the old shape until you fix this and run \`syncline triggers install\``,
    );
  }
  for (const event of TRIGGER_EVENTS) await conn.query(dropTriggerSql(after.name, event));
  throw new DdlError(
    `the ALTER was applied to ${name}, but its capture triggers could not be regenerated: ${reason}. The previous triggers named ${gone.length ? `column(s) that no longer exist (${gone.join(', ')})` : 'the old columns'} and would have failed every write to ${after.name}, so syncline dropped them: changes to ${after.name} are NOT captured until you fix this and run \`syncline triggers install\`; then reload the table (\`run\` does that by itself when it sees the new triggers)`,
  );
}

/**
 * Apply one ALTER TABLE to a captured table without failing concurrent writes:
 * LOCK TABLES t WRITE (writers wait instead of failing), the ALTER, the triggers for the new
 * shape, UNLOCK TABLES. The bookkeeping row in _syncline_triggers is deliberately left at the old
 * shape: that drift is how `run` learns it must restart the Spark job and reload the table.
 */
export async function applyDdl(
  conn: Connection,
  source: { database: string; tables: string[] | '*' },
  statement: string,
  options: ApplyDdlOptions,
): Promise<ApplyDdlResult> {
  if (!Number.isInteger(options.lockWaitSeconds) || options.lockWaitSeconds < 1)
    refuse(`--lock-wait must be a whole number of seconds, at least 1 (got ${options.lockWaitSeconds})`);
  const [modeRows] = await conn.query<RowDataPacket[]>('SELECT @@SESSION.sql_mode AS m');
  const sqlMode = String(modeRows[0]?.m ?? '');
  const target = parseAlterTable(statement, {
    ansiQuotes: /\bANSI_QUOTES\b/.test(sqlMode),
    noBackslashEscapes: /\bNO_BACKSLASH_ESCAPES\b/.test(sqlMode),
  });
  const database = target.database ?? source.database;
  const table = target.table;
  if (database !== source.database)
    refuse(
      `the statement alters a table in database ${database}, but syncline captures ${source.database} (source.database): it cannot break capture, so ${RUN_IT_YOURSELF}`,
    );
  if (table.startsWith(INTERNAL_TABLE_PREFIX))
    refuse(`${table} is one of syncline's own tables: syncline ddl alters captured tables only`);
  if (source.tables !== '*' && !source.tables.includes(table))
    refuse(
      `table ${table} is not captured (not in source.tables), so its DDL cannot break capture: ${RUN_IT_YOURSELF}`,
    );
  const existing = await listTables(conn, database);
  if (!existing.includes(table)) {
    const near = existing.find((t) => t.toLowerCase() === table.toLowerCase());
    refuse(
      `table ${table} does not exist in database ${database}${near ? ` (did you mean ${near}? names are case-sensitive here)` : ''}`,
    );
  }

  const before = await catalogOf(conn, database, table);
  const [status] = await triggerStatus(conn, [before]);
  const hasTriggers = status!.present.length > 0;
  const mariadb = await isMariaDb(conn);
  await conn.query(`USE ${quoteId(database)}`);
  await conn.query('SET SESSION lock_wait_timeout = ?', [options.lockWaitSeconds]);

  // Parents whose cascade triggers read this table name its columns: their triggers are replaced
  // under the same lock, or deletes of the parent would fail on a dropped column (decision 0032).
  const parents = hasTriggers ? await cascadeParentsOf(conn, database, table) : [];
  let parentHashes = new Map<string, string>();

  const asked = performance.now();
  try {
    // Only the altered table (and those parents): the changelog is locked implicitly for the
    // triggers' use only, so the relay and writers of the other captured tables carry on
    // (measured, decision 0024).
    await conn.query(`LOCK TABLES ${[table, ...parents].map((t) => `${quoteId(t)} WRITE`).join(', ')}`);
  } catch (err) {
    if (mysqlErrno(err) === ER_LOCK_WAIT_TIMEOUT)
      throw new DdlError(
        `could not lock ${database}.${table} for writing within ${options.lockWaitSeconds} s: another session holds it (an open transaction that touched the table, or a long query on it; see information_schema.INNODB_TRX and SHOW PROCESSLIST). Nothing was changed. Try again once that session has finished, or wait longer with --lock-wait <seconds> (writers to ${table} wait as long as syncline does)`,
      );
    throw new DdlError(
      `could not lock ${database}.${table} for writing: ${(err as Error).message}. Nothing was changed (the lock needs the LOCK TABLES privilege)`,
    );
  }
  const locked = performance.now();
  try {
    let alterError: Error | undefined;
    try {
      await conn.query(statement);
    } catch (err) {
      alterError = err as Error;
    }
    const after = await catalogOf(conn, database, table);
    if (alterError && schemaHash(after) === schemaHash(before))
      throw new DdlError(
        `the ALTER failed: ${alterError.message}. Nothing changed: ${database}.${table} and its capture triggers are as before`,
      );
    if (hasTriggers) await swapTriggers(conn, before, after, mariadb);
    parentHashes = await refreshTriggers(conn, database, parents, mariadb);
    if (alterError)
      throw new DdlError(
        `the ALTER reported an error (${alterError.message}) but changed ${database}.${table} anyway; the capture triggers were regenerated for its columns as they are now (${after.columns.map((c) => c.name).join(', ')})`,
      );
    return {
      database,
      table,
      triggers: hasTriggers ? 'regenerated' : 'none',
      columns: after.columns.map((c) => c.name),
      lockWaitMs: Math.round(locked - asked),
      lockedMs: Math.round(performance.now() - locked),
    };
  } finally {
    await conn.query('UNLOCK TABLES');
    // The parents' own shape did not change: no reload for them, so record their new triggers.
    await recordInstalled(conn, parentHashes).catch(() => undefined);
  }
}
