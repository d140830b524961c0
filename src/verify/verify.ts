// Reconciliation: every MySQL row against its MongoDB document and its Redis entry, chunk by chunk
// in primary-key order (memory stays flat), then, unless the sink holds exactly as many entries as
// were matched, every sink entry against MySQL to find extras.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { MongoClient } from 'mongodb';
import type { RedisClientType } from 'redis';
import { rowImageExpression } from '../model/row-image-sql.ts';
import type { ColumnSchema, TableSchema } from '../model/types.ts';
import { keyColumns } from '../model/types.ts';
import { quoteId } from '../mysql/identifiers.ts';
import { afterKeyParams, keyPlaceholder, keyPredicate, keyRead } from '../mysql/keyset.ts';
import type { JobDescription, JobTable } from '../spark/job-description.ts';
import { formatTable } from '../format/table.ts';
import {
  canonicalBson,
  canonicalRedis,
  expectedMongo,
  mongoIdValue,
  redisKey,
  redisText,
} from './expected.ts';

export type SinkName = 'mongodb' | 'redis';

export interface Difference {
  key: string;
  kind: 'missing' | 'extra' | 'different';
  fields?: string[];
}

export interface SinkReport {
  sink: SinkName;
  checked: number;
  missing: number;
  extra: number;
  different: number;
  /** Rows a transform filter keeps out of the sinks; their absence is expected. */
  filtered: number;
  examples: Difference[];
}

export interface TableReport {
  table: string;
  rows: number;
  sinks: SinkReport[];
  notes: string[];
}

export interface VerifyOptions {
  tables?: string[];
  chunkSize?: number;
  /** Check only this many rows per table, picked at random; extras are not searched. */
  sample?: number;
  examples?: number;
}

export interface VerifyClients {
  mysql: Connection;
  mongo: MongoClient | null;
  redis: RedisClientType | null;
}

const TOMBSTONE_PREFIX = 'syncline:tomb:';
const RESERVED = new Set(['_id', '_sync']);

/** Source column → output field, after include/exclude/rename (the sink's field order). */
function outputColumns(t: JobTable): [string, string][] {
  const out: [string, string][] = [];
  for (const c of t.columns) {
    if (t.transform.include && !t.transform.include.includes(c.name)) continue;
    if (t.transform.exclude?.includes(c.name)) continue;
    out.push([c.name, t.transform.rename?.[c.name] ?? c.name]);
  }
  return out;
}

function newReport(sink: SinkName): SinkReport {
  return { sink, checked: 0, missing: 0, extra: 0, different: 0, filtered: 0, examples: [] };
}

function note(report: SinkReport, diff: Difference, limit: number): void {
  report[diff.kind] += 1;
  if (report.examples.length < limit) report.examples.push(diff);
}

interface SourceRow {
  keyValues: unknown[];
  /** The canonical key text used in reports: the Kafka key JSON. */
  keyText: string;
  image: Record<string, unknown>;
  keep: boolean;
}

function parseJson(v: unknown): Record<string, unknown> {
  return (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, unknown>;
}

async function* sourceChunks(
  conn: Connection,
  schema: TableSchema,
  filter: string | null,
  chunkSize: number,
  sample: number | undefined,
): AsyncGenerator<SourceRow[]> {
  const keys = keyColumns(schema);
  const tableRef = `${quoteId(schema.database)}.${quoteId(schema.name)}`;
  const orderBy = keys.map((k) => quoteId(k.name)).join(', ');
  const select = `SELECT ${keys.map((k, i) => `${keyRead(k)} AS k${i}`).join(', ')}, ${rowImageExpression(schema, null)} AS img${filter ? `, (${filter}) AS keep_` : ''} FROM ${tableRef}`;
  const toRows = (rows: RowDataPacket[]): SourceRow[] =>
    rows.map((r) => {
      const image = parseJson(r.img);
      const keyValues = keys.map((_, i) => r[`k${i}`]);
      return {
        keyValues,
        keyText: JSON.stringify(Object.fromEntries(keys.map((k) => [k.name, image[k.name]]))),
        image,
        keep: filter ? Boolean(Number(r.keep_)) : true,
      };
    });
  if (sample !== undefined) {
    const [rows] = await conn.query<RowDataPacket[]>(`${select} ORDER BY RAND() LIMIT ${sample}`);
    yield toRows(rows);
    return;
  }
  let last: unknown[] | null = null;
  for (;;) {
    const [rows] = await conn.query<RowDataPacket[]>({
      sql: `${select} ${last ? `WHERE ${keyPredicate(keys)}` : ''} ORDER BY ${orderBy} LIMIT ${chunkSize}`,
      values: last ? afterKeyParams(last) : [],
    });
    if (rows.length === 0) return;
    const chunk = toRows(rows);
    yield chunk;
    last = chunk[chunk.length - 1]!.keyValues;
    if (rows.length < chunkSize) return;
  }
}

function mongoId(schema: TableSchema, image: Record<string, unknown>): unknown {
  const keys = keyColumns(schema);
  if (keys.length === 1) return mongoIdValue(keys[0]!, image[keys[0]!.name]);
  return Object.fromEntries(keys.map((k) => [k.name, mongoIdValue(k, image[k.name])]));
}

function compareMongo(
  t: JobTable,
  columns: Map<string, ColumnSchema>,
  row: SourceRow,
  doc: Record<string, unknown>,
): string[] {
  const differing: string[] = [];
  const expectedFields = new Set<string>();
  for (const [source, field] of outputColumns(t)) {
    expectedFields.add(field);
    const col = columns.get(source)!;
    if (expectedMongo(col, row.image[source]) !== canonicalBson(doc[field])) differing.push(field);
  }
  // Computed fields: Spark SQL cannot be evaluated here; their presence is checked.
  for (const field of Object.keys(t.transform.fields ?? {})) {
    expectedFields.add(field);
    if (!(field in doc)) differing.push(field);
  }
  for (const field of Object.keys(doc))
    if (!RESERVED.has(field) && !expectedFields.has(field)) differing.push(field);
  return differing;
}

function compareRedis(
  t: JobTable,
  columns: Map<string, ColumnSchema>,
  row: SourceRow,
  stored: Record<string, string> | null,
): string[] {
  const differing: string[] = [];
  const wanted = t.redis!.fields;
  const expectedFields = new Set<string>();
  const json = t.redis!.format === 'json';
  for (const [source, field] of outputColumns(t)) {
    if (wanted && !wanted.includes(field)) continue;
    expectedFields.add(field);
    const col = columns.get(source)!;
    const expected = canonicalRedis(col.kind, redisText(row.image[source]));
    const actualRaw = stored?.[field];
    const actual = canonicalRedis(
      col.kind,
      actualRaw === undefined || actualRaw === null ? undefined : String(actualRaw),
    );
    if (expected !== actual) differing.push(field);
  }
  for (const field of Object.keys(t.transform.fields ?? {})) {
    if (wanted && !wanted.includes(field)) continue;
    expectedFields.add(field);
    // A computed NULL is an absent hash field, so only JSON entries can be held to presence.
    if (json && !(field in (stored ?? {}))) differing.push(field);
  }
  for (const field of Object.keys(stored ?? {})) {
    if (field.startsWith('_sync')) continue;
    if (!expectedFields.has(field)) differing.push(field);
  }
  return differing;
}

/** Redis entry as field → text: a hash as it is, a JSON entry flattened one level. */
function flattenRedis(format: 'hash' | 'json', raw: unknown): Record<string, string> | null {
  if (raw === null || raw === undefined) return null;
  if (format === 'hash') {
    const hash = raw as Record<string, string>;
    return Object.keys(hash).length === 0 ? null : { ...hash };
  }
  const obj = JSON.parse(String(raw)) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    const text = redisText(v);
    if (text !== undefined) out[k] = text;
    else out[k] = 'null';
  }
  return out;
}

async function verifyTable(
  clients: VerifyClients,
  job: JobDescription,
  t: JobTable,
  schema: TableSchema,
  opts: Required<Pick<VerifyOptions, 'chunkSize' | 'examples'>> & Pick<VerifyOptions, 'sample'>,
): Promise<TableReport> {
  const report: TableReport = { table: t.table, rows: 0, sinks: [], notes: [] };
  const columns = new Map(schema.columns.map((c) => [c.name, c]));
  const mongoColl =
    clients.mongo && t.mongodb && job.sinks.mongodb
      ? clients.mongo.db(job.sinks.mongodb.database).collection(t.mongodb.collection)
      : null;
  const redis = clients.redis && t.redis ? clients.redis : null;
  const mongoReport = mongoColl ? newReport('mongodb') : null;
  const redisReport = redis ? newReport('redis') : null;
  if (mongoReport) report.sinks.push(mongoReport);
  if (redisReport) report.sinks.push(redisReport);
  if (Object.keys(t.transform.fields ?? {}).length > 0) {
    report.notes.push(
      `computed fields (${Object.keys(t.transform.fields!).join(', ')}) are checked for presence, not value`,
    );
  }

  // The filter is Spark SQL; simple predicates are also valid MariaDB SQL. If MariaDB cannot
  // evaluate it, filtered rows cannot be told apart and absence is not counted as missing.
  let filter = t.transform.filter ?? null;
  let filterUnknown = false;
  if (filter) {
    try {
      await clients.mysql.query(
        `SELECT (${filter}) FROM ${quoteId(schema.database)}.${quoteId(schema.name)} LIMIT 0`,
      );
    } catch {
      report.notes.push(
        `the filter "${filter}" is not valid MariaDB SQL: rows absent from the sinks are not counted as missing`,
      );
      filter = null;
      filterUnknown = true;
    }
  }

  /** One row against what a sink holds for it (undefined or null: nothing). */
  const judge = <E>(
    report: SinkReport,
    row: SourceRow,
    entry: E | null | undefined,
    compare: (entry: E) => string[],
  ): void => {
    report.checked += 1;
    if (!row.keep) {
      report.filtered += 1;
      if (entry)
        note(
          report,
          { key: row.keyText, kind: 'extra', fields: ['(filtered row still present)'] },
          opts.examples,
        );
      return;
    }
    if (!entry) {
      if (!filterUnknown) note(report, { key: row.keyText, kind: 'missing' }, opts.examples);
      return;
    }
    const fields = compare(entry);
    if (fields.length > 0) note(report, { key: row.keyText, kind: 'different', fields }, opts.examples);
  };
  // Sink entries found for MySQL rows, filtered or not: when a sink holds exactly this many
  // entries for the table, none can be extra and the walk over the sink is skipped.
  let mongoSeen = 0;
  let redisSeen = 0;
  const keyCols = keyColumns(schema).map((k) => k.name);
  const checkMongo = async (chunk: SourceRow[]): Promise<void> => {
    if (!mongoColl || !mongoReport) return;
    const ids = chunk.map((r) => mongoId(schema, r.image));
    const byId = await mongoDocsById(mongoColl, ids);
    chunk.forEach((row, i) => {
      const doc = byId.get(canonicalBson(ids[i]));
      if (doc) mongoSeen += 1;
      judge(mongoReport, row, doc, (d) => compareMongo(t, columns, row, d));
    });
  };
  const checkRedis = async (chunk: SourceRow[]): Promise<void> => {
    if (!redis || !redisReport) return;
    const keys = chunk.map((row) =>
      redisKey(
        t.redis!.keyTemplate,
        { table: t.table, db: t.db },
        keyCols,
        keyCols.map((k) => row.image[k]),
      ),
    );
    const multi = redis.multi();
    for (const k of keys) {
      if (t.redis!.format === 'json') multi.get(k);
      else multi.hGetAll(k);
    }
    const answers = (await multi.execAsPipeline()) as unknown[];
    chunk.forEach((row, i) => {
      const stored = flattenRedis(t.redis!.format, answers[i]);
      if (stored) redisSeen += 1;
      judge(redisReport, row, stored, (e) => compareRedis(t, columns, row, e));
    });
  };

  // The next MySQL chunk is read while the sinks answer for the current one.
  const chunks = sourceChunks(clients.mysql, schema, filter, opts.chunkSize, opts.sample);
  let next = chunks.next();
  for (;;) {
    const current = await next;
    if (current.done) break;
    next = chunks.next();
    report.rows += current.value.length;
    await Promise.all([checkMongo(current.value), checkRedis(current.value)]);
  }

  if (opts.sample === undefined) {
    if (mongoColl && mongoReport && (await mongoCount(mongoColl)) !== mongoSeen)
      await findMongoExtras(clients.mysql, schema, mongoColl, mongoReport, opts);
    if (redis && redisReport && (await redisCount(t, keyCols, redis)) !== redisSeen)
      await findRedisExtras(clients.mysql, schema, t, redis, redisReport, opts);
  } else {
    report.notes.push(`sampled ${report.rows} rows; extra entries were not searched`);
  }
  return report;
}

/** Key values that bind into a MySQL comparison with the key column. */
function sqlKeyValue(col: ColumnSchema, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (col.kind === 'binary' || col.kind === 'geometry') {
    const buf =
      typeof v === 'object' && v !== null && 'buffer' in v
        ? Buffer.from((v as { buffer: Uint8Array }).buffer)
        : Buffer.alloc(0);
    return buf.toString('hex');
  }
  if (v instanceof Date) return v.toISOString().replace('T', ' ').replace('Z', '');
  if (typeof v === 'boolean') return v ? 1 : 0;
  return typeof v === 'object' ? String(v) : v;
}

type MongoCollection = ReturnType<ReturnType<MongoClient['db']>['collection']>;

// The stand-in answers an `$in` of n integer _ids in O(n²) (each found document is matched against
// the whole list): 2,000 ids took 0.8-1.3 s, the same ids in groups of 100 0.16-0.24 s. More than
// two groups in flight made it slower (its collections are synchronized); real MongoDB does not
// mind either way.
const MONGO_IN_GROUP = 100;
const MONGO_IN_FLIGHT = 2;

/** The documents with these _ids, by canonical _id. */
async function mongoDocsById(
  coll: MongoCollection,
  ids: unknown[],
): Promise<Map<string, Record<string, unknown>>> {
  const groups: unknown[][] = [];
  for (let i = 0; i < ids.length; i += MONGO_IN_GROUP) groups.push(ids.slice(i, i + MONGO_IN_GROUP));
  const byId = new Map<string, Record<string, unknown>>();
  for (let g = 0; g < groups.length; g += MONGO_IN_FLIGHT) {
    const found = await Promise.all(
      groups
        .slice(g, g + MONGO_IN_FLIGHT)
        .map((group) => coll.find({ _id: { $in: group as never[] } }).toArray()),
    );
    for (const docs of found)
      for (const d of docs) byId.set(canonicalBson(d._id), d as Record<string, unknown>);
  }
  return byId;
}

/** The collection's document count, or -1 when the server cannot say (then extras are walked). */
async function mongoCount(coll: MongoCollection): Promise<number> {
  try {
    return await coll.estimatedDocumentCount();
  } catch {
    return -1;
  }
}

/** Which of these key tuples exist in MySQL, as canonical key texts. */
async function existingKeys(
  conn: Connection,
  schema: TableSchema,
  tuples: unknown[][],
): Promise<Set<string>> {
  const keys = keyColumns(schema);
  if (tuples.length === 0) return new Set();
  const one = `(${keys.map((k) => keyPlaceholder(k)).join(', ')})`;
  const [rows] = await conn.query<RowDataPacket[]>({
    sql: `SELECT ${rowImageExpression({ ...schema, columns: keys }, null)} AS img FROM ${quoteId(schema.database)}.${quoteId(schema.name)}
          WHERE (${keys.map((k) => quoteId(k.name)).join(', ')}) IN (${tuples.map(() => one).join(', ')})`,
    values: tuples.flat(),
  });
  return new Set(rows.map((r) => JSON.stringify(parseJson(r.img))));
}

async function findMongoExtras(
  conn: Connection,
  schema: TableSchema,
  coll: MongoCollection,
  report: SinkReport,
  opts: { chunkSize: number; examples: number },
): Promise<void> {
  const keys = keyColumns(schema);
  const cursor = coll.find({}, { projection: { _id: 1 } }).batchSize(opts.chunkSize);
  let batch: unknown[] = [];
  const flush = async () => {
    const tuples = batch.map((id) =>
      keys.length === 1
        ? [sqlKeyValue(keys[0]!, id)]
        : keys.map((k) => sqlKeyValue(k, (id as Record<string, unknown>)[k.name])),
    );
    const found = await existingKeys(conn, schema, tuples);
    const foundCanonical = new Set(
      [...found].map((text) => {
        const image = JSON.parse(text) as Record<string, unknown>;
        return canonicalBson(mongoId(schema, image));
      }),
    );
    for (const id of batch) {
      if (!foundCanonical.has(canonicalBson(id)))
        note(report, { key: canonicalBson(id), kind: 'extra' }, opts.examples);
    }
    batch = [];
  };
  for await (const doc of cursor) {
    batch.push(doc._id);
    if (batch.length >= opts.chunkSize) await flush();
  }
  if (batch.length > 0) await flush();
}

function templateRegex(template: string, t: JobTable, keyCols: string[]): { regex: RegExp; order: string[] } {
  const order: string[] = [];
  let pattern = '';
  let last = 0;
  for (const m of template.matchAll(/\{([^}]+)\}/g)) {
    pattern += template.slice(last, m.index).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const name = m[1]!;
    if (name === 'table') pattern += t.table.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (name === 'db') pattern += t.db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (name === 'key') {
      pattern += keyCols.map(() => '([^:]*)').join(':');
      order.push(...keyCols);
    } else {
      pattern += '([^:]*)';
      order.push(name);
    }
    last = m.index! + m[0].length;
  }
  pattern += template.slice(last).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return { regex: new RegExp(`^${pattern}$`), order };
}

/** The SCAN glob and the exact regex of one table's Redis keys. */
function redisKeyPattern(t: JobTable, keyCols: string[]): { regex: RegExp; order: string[]; match: string } {
  const { regex, order } = templateRegex(t.redis!.keyTemplate, t, keyCols);
  const match = t
    .redis!.keyTemplate.replace(/\{(table|db)\}/g, (_m, p: string) => (p === 'table' ? t.table : t.db))
    .replace(/\{[^}]+\}/g, '*');
  return { regex, order, match };
}

/** How many data entries (not tombstones) of this table Redis holds. */
async function redisCount(t: JobTable, keyCols: string[], redis: RedisClientType): Promise<number> {
  const { regex, match } = redisKeyPattern(t, keyCols);
  let n = 0;
  for await (const keys of redis.scanIterator({ MATCH: match, COUNT: 1000 }))
    for (const key of keys as string[]) if (!key.startsWith(TOMBSTONE_PREFIX) && regex.test(key)) n += 1;
  return n;
}

async function findRedisExtras(
  conn: Connection,
  schema: TableSchema,
  t: JobTable,
  redis: RedisClientType,
  report: SinkReport,
  opts: { chunkSize: number; examples: number },
): Promise<void> {
  const keyCols = keyColumns(schema);
  const names = keyCols.map((k) => k.name);
  const { regex, order, match } = redisKeyPattern(t, names);
  const decode = (s: string) =>
    s.replace(/%3A/g, ':').replace(/%7D/g, '}').replace(/%7B/g, '{').replace(/%25/g, '%');
  let batch: { key: string; values: unknown[] }[] = [];
  const flush = async () => {
    const found = await existingKeys(
      conn,
      schema,
      batch.map((b) => b.values),
    );
    const rendered = new Set(
      [...found].map((text) => {
        const image = JSON.parse(text) as Record<string, unknown>;
        return redisKey(
          t.redis!.keyTemplate,
          { table: t.table, db: t.db },
          names,
          names.map((n) => image[n]),
        );
      }),
    );
    for (const b of batch)
      if (!rendered.has(b.key)) note(report, { key: b.key, kind: 'extra' }, opts.examples);
    batch = [];
  };
  for await (const keys of redis.scanIterator({ MATCH: match, COUNT: 1000 })) {
    for (const key of keys as string[]) {
      if (key.startsWith(TOMBSTONE_PREFIX)) continue;
      const m = regex.exec(key);
      if (!m) continue; // another table's key that happens to match the glob
      const byName = new Map(order.map((n, i) => [n, decode(m[i + 1]!)]));
      const values = keyCols.map((k) => {
        const v = byName.get(k.name);
        return k.kind === 'binary' || k.kind === 'geometry'
          ? Buffer.from(v ?? '', 'base64').toString('hex')
          : v;
      });
      batch.push({ key, values });
      if (batch.length >= opts.chunkSize) await flush();
    }
  }
  if (batch.length > 0) await flush();
}

export async function verify(
  clients: VerifyClients,
  job: JobDescription,
  tables: TableSchema[],
  options: VerifyOptions = {},
): Promise<TableReport[]> {
  const chunkSize = options.chunkSize ?? 2000;
  const examples = options.examples ?? 5;
  const reports: TableReport[] = [];
  for (const t of job.tables) {
    if (options.tables && !options.tables.includes(t.table)) continue;
    const schema = tables.find((s) => s.name === t.table);
    if (!schema) throw new Error(`verify: table ${t.table} is in the job but not in the catalog`);
    reports.push(await verifyTable(clients, job, t, schema, { chunkSize, examples, sample: options.sample }));
  }
  return reports;
}

export function inSync(reports: TableReport[]): boolean {
  return reports.every((r) => r.sinks.every((s) => s.missing === 0 && s.extra === 0 && s.different === 0));
}

export function formatReports(reports: TableReport[]): string {
  const lines: string[] = [];
  const header = ['TABLE', 'SINK', 'ROWS', 'MISSING', 'EXTRA', 'DIFFERENT', 'FILTERED'];
  const rows = reports.flatMap((r) =>
    r.sinks.map((s) => [
      r.table,
      s.sink,
      String(s.checked),
      String(s.missing),
      String(s.extra),
      String(s.different),
      String(s.filtered),
    ]),
  );
  lines.push(formatTable(header, rows));
  for (const r of reports) {
    for (const s of r.sinks) {
      for (const e of s.examples)
        lines.push(
          `  ${r.table} ${s.sink} ${e.kind} ${e.key}${e.fields ? ` fields: ${e.fields.join(', ')}` : ''}`,
        );
    }
    for (const n of r.notes) lines.push(`  note (${r.table}): ${n}`);
  }
  lines.push(
    inSync(reports)
      ? 'IN SYNC: MySQL, MongoDB and Redis hold the same rows.'
      : 'NOT IN SYNC: see the differences above.',
  );
  return lines.join('\n');
}
