// `syncline show <table> <key…>`: one row as MySQL, MongoDB and Redis hold it, side by side. The
// sink names and key layout come from the same job description `verify` and the Spark job use, so
// what is shown is exactly where the pipeline writes.
import type { Command } from 'commander';
import { Binary, Decimal128, Long, MongoClient } from 'mongodb';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createClient, type RedisClientType } from 'redis';
import { configFromCommand } from '../capture/cli.ts';
import { urlWithPassword } from '../config/urls.ts';
import { rowImageExpression } from '../model/row-image-sql.ts';
import { keyColumns, type ColumnSchema, type TableSchema } from '../model/types.ts';
import { connectSource } from '../mysql/connect.ts';
import { quoteId } from '../mysql/identifiers.ts';
import { keyPlaceholder } from '../mysql/keyset.ts';
import { resolvePipeline } from '../pipeline/job.ts';
import type { JobTable } from '../spark/job-description.ts';
import { mongoIdValue, redisKey, redisText } from '../verify/expected.ts';
import { formatTable } from '../format/table.ts';

export interface ShownRow {
  table: string;
  key: Record<string, string>;
  mysql: Record<string, unknown> | null;
  mongodb: {
    database: string;
    collection: string;
    id: unknown;
    document: Record<string, unknown> | null;
  } | null;
  redis: { key: string; entry: Record<string, string> | null } | null;
}

/** A key value typed on the command line, in the form the row image would carry it. */
function typedKeyValue(column: ColumnSchema, text: string): unknown {
  switch (column.kind) {
    case 'int':
    case 'year':
    case 'float':
    case 'double':
      return Number(text);
    case 'binary':
    case 'geometry':
      // typed as hex (what MySQL's HEX() shows); the row image carries bytes as base64
      return Buffer.from(text, 'hex').toString('base64');
    default:
      return text;
  }
}

async function mysqlRow(
  conn: Connection,
  schema: TableSchema,
  keys: ColumnSchema[],
  values: string[],
): Promise<Record<string, unknown> | null> {
  const where = keys.map((k) => `${quoteId(k.name)} = ${keyPlaceholder(k)}`).join(' AND ');
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT ${rowImageExpression(schema, null)} AS img FROM ${quoteId(schema.database)}.${quoteId(schema.name)} WHERE ${where}`,
    values,
  );
  const img = rows[0]?.img as unknown;
  if (img === undefined) return null;
  return (typeof img === 'string' ? JSON.parse(img) : img) as Record<string, unknown>;
}

/** Reads one row from the three stores. Throws with a message for an unknown table or a wrong key. */
export async function showRow(
  clients: { mysql: Connection; mongo: MongoClient | null; redis: RedisClientType | null },
  t: JobTable,
  schema: TableSchema,
  mongoDatabase: string,
  values: string[],
): Promise<ShownRow> {
  const keys = keyColumns(schema);
  if (values.length !== keys.length) {
    const names = keys.map((k) => k.name);
    throw new Error(
      `${t.table} has a primary key of ${keys.length} column${keys.length === 1 ? '' : 's'} (${names.join(', ')}): give ${keys.length === 1 ? 'its value' : 'one value for each, in that order'}, e.g. \`syncline show ${t.table} ${names.map((n) => `<${n}>`).join(' ')}\` (got ${values.length})`,
    );
  }
  const row = await mysqlRow(clients.mysql, schema, keys, values);
  // The sinks are addressed from the row image when MySQL has the row (exact types), else from the
  // typed values: a row MySQL no longer has may still sit in a sink.
  const keyImage = keys.map((k, i) => (row ? row[k.name] : typedKeyValue(k, values[i]!)));
  const out: ShownRow = {
    table: t.table,
    key: Object.fromEntries(keys.map((k, i) => [k.name, values[i]!])),
    mysql: row,
    mongodb: null,
    redis: null,
  };
  if (t.mongodb && clients.mongo) {
    const id =
      keys.length === 1
        ? mongoIdValue(keys[0]!, keyImage[0])
        : Object.fromEntries(keys.map((k, i) => [k.name, mongoIdValue(k, keyImage[i])]));
    const document = await clients.mongo
      .db(mongoDatabase)
      .collection(t.mongodb.collection)
      .findOne({ _id: id as never });
    out.mongodb = { database: mongoDatabase, collection: t.mongodb.collection, id, document };
  }
  if (t.redis && clients.redis) {
    const key = redisKey(
      t.redis.keyTemplate,
      { table: t.table, db: t.db },
      keys.map((k) => k.name),
      keyImage,
    );
    let entry: Record<string, string> | null = null;
    if (t.redis.format === 'json') {
      const text = await clients.redis.get(key);
      if (text !== null) {
        entry = {};
        for (const [f, v] of Object.entries(JSON.parse(text) as Record<string, unknown>))
          entry[f] = redisText(v) ?? 'null';
      }
    } else {
      const hash = await clients.redis.hGetAll(key);
      entry = Object.keys(hash).length > 0 ? { ...hash } : null;
    }
    out.redis = { key, entry };
  }
  return out;
}

/** How a value looks in the table: what a user would type or read in each store's own client. */
export function displayValue(value: unknown): string {
  if (value === undefined) return '';
  if (value === null) return 'NULL';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Long || value instanceof Decimal128) return value.toString();
  if (value instanceof Binary) return `base64:${Buffer.from(value.buffer).toString('base64')}`;
  if (Array.isArray(value)) return `[${value.map(displayValue).join(', ')}]`;
  if (typeof value === 'object')
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${displayValue(v)}`)
      .join(', ')}}`;
  return String(value);
}

/** A row-image value as MySQL's own client shows it: JSON columns as JSON text. */
function mysqlText(value: unknown): string {
  return value !== null && typeof value === 'object' ? JSON.stringify(value) : displayValue(value);
}

export function formatShown(shown: ShownRow, t: JobTable): string {
  const rename = t.transform.rename ?? {};
  const excluded = (c: string) =>
    (t.transform.include && !t.transform.include.includes(c)) || t.transform.exclude?.includes(c);
  const doc = shown.mongodb?.document ?? null;
  const entry = shown.redis?.entry ?? null;
  const mongoSeen = new Set<string>();
  const redisSeen = new Set<string>();
  const cell = (holder: object | null, present: boolean, value: unknown) =>
    holder === null ? '' : present ? displayValue(value) : '(absent)';
  const rows: string[][] = [];
  for (const c of t.columns.map((col) => col.name)) {
    const field = rename[c] ?? c;
    const skip = excluded(c);
    if (!skip) {
      mongoSeen.add(field);
      redisSeen.add(field);
    }
    rows.push([
      field === c ? c : `${c} → ${field}`,
      shown.mysql ? mysqlText(shown.mysql[c]) : '',
      skip ? '(excluded)' : cell(doc, doc !== null && field in doc, doc?.[field]),
      skip ? '(excluded)' : cell(entry, entry !== null && field in entry, entry?.[field]),
    ]);
  }
  // Fields only the sinks have: computed fields and the version metadata, the document's `_sync`
  // one row per part so that it lines up with Redis's `_sync_*` fields.
  const mongoExtra = new Map<string, unknown>();
  for (const [f, v] of Object.entries(doc ?? {})) {
    if (f === '_id' || mongoSeen.has(f)) continue;
    if (f === '_sync' && v && typeof v === 'object' && !Array.isArray(v))
      for (const [k, part] of Object.entries(v as Record<string, unknown>))
        mongoExtra.set(`_sync.${k}`, part);
    else mongoExtra.set(f, v);
  }
  const redisExtra = Object.keys(entry ?? {}).filter((f) => !redisSeen.has(f));
  for (const f of mongoExtra.keys())
    rows.push([f, '', displayValue(mongoExtra.get(f)), redisExtra.includes(f) ? entry![f]! : '']);
  for (const f of redisExtra) if (!mongoExtra.has(f)) rows.push([f, '', '', entry![f]!]);
  const where = [
    `MySQL ${t.db}.${t.table}${shown.mysql ? '' : ': no such row'}`,
    shown.mongodb
      ? `MongoDB ${shown.mongodb.database}.${shown.mongodb.collection} _id ${displayValue(shown.mongodb.id)}${doc ? '' : ': no document'}`
      : 'MongoDB: not synced for this table',
    shown.redis
      ? `Redis key ${shown.redis.key}${entry ? '' : ': no entry'}`
      : 'Redis: not synced for this table',
  ];
  return `${where.join('\n')}\n\n${formatTable(['FIELD', 'MYSQL', 'MONGODB', 'REDIS'], rows)}`;
}

export function registerShowCommand(program: Command): void {
  program
    .command('show')
    .description('print one row as MySQL, MongoDB and Redis hold it, side by side')
    .argument('<table>', 'a captured table')
    .argument('<key...>', 'the primary-key values, in key order (several for a composite key)')
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--json', 'print JSON')
    .action(async (table: string, values: string[], opts: { json?: boolean }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const conn = await connectSource(config);
      let mongo: MongoClient | null = null;
      let redis: RedisClientType | null = null;
      try {
        const pipeline = await resolvePipeline(config, conn);
        const t = pipeline.job.tables.find((x) => x.table === table);
        const schema = pipeline.tables.find((s) => s.name === table);
        if (!t || !schema) {
          const names = pipeline.job.tables.map((x) => x.table);
          throw new Error(
            `${table} is not a captured table of ${config.source.database}; captured: ${names.length ? names.join(', ') : '(none: check source.tables in the configuration)'}`,
          );
        }
        if (t.mongodb) {
          mongo = new MongoClient(urlWithPassword(config.sinks.mongodb.url, config.sinks.mongodb.password), {
            useBigInt64: true,
            serverSelectionTimeoutMS: 10_000,
          });
          await mongo.connect();
        }
        if (t.redis) {
          redis = createClient({
            url: urlWithPassword(config.sinks.redis.url, config.sinks.redis.password),
          }) as RedisClientType;
          redis.on('error', () => {});
          await redis.connect();
        }
        const shown = await showRow(
          { mysql: conn, mongo, redis },
          t,
          schema,
          config.sinks.mongodb.database,
          values,
        );
        const found = shown.mysql ?? shown.mongodb?.document ?? shown.redis?.entry ?? null;
        if (found === null)
          throw new Error(
            `no row of ${t.db}.${t.table} with ${Object.entries(shown.key)
              .map(([k, v]) => `${k} = ${v}`)
              .join(' and ')} in MySQL, MongoDB or Redis`,
          );
        process.stdout.write(
          `${opts.json ? JSON.stringify(shown, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) : formatShown(shown, t)}\n`,
        );
        if (!shown.mysql) {
          process.stderr.write(
            `${t.table}: MySQL has no such row, but a sink still holds it (\`syncline verify\` counts it as extra)\n`,
          );
          process.exitCode = 1;
        }
      } finally {
        await conn.end().catch(() => undefined);
        await mongo?.close().catch(() => undefined);
        if (redis?.isOpen) await redis.close().catch(() => undefined);
      }
    });
}
