// The change event (contract/README.md) and the naming rules shared by every producer.

export type Op = 'c' | 'u' | 'd' | 'r';
export type CaptureMode = 'trigger' | 'binlog' | 'snapshot';

export type RowImage = Record<string, unknown>;

export interface ChangeEventSource {
  name: string;
  db: string;
  table: string;
  capture: CaptureMode;
  /** Decimal digits; may exceed 2^53. */
  seq: string;
  ts_ms: number;
  txid?: string;
}

export interface ChangeEvent {
  op: Op;
  before: RowImage | null;
  after: RowImage | null;
  source: ChangeEventSource;
  ts_ms: number;
}

// Kafka topic names allow only [A-Za-z0-9._-]. Names are escaped injectively: '-' is the escape
// character (itself written -2d) followed by two hex digits per UTF-8 byte; '.' is escaped too
// because it separates the parts of the topic name.
function escapeTopicPart(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9_]/.test(ch) ? ch : `-${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** `<prefix>.<database>.<table>` with unusual characters escaped. */
export function topicName(prefix: string, database: string, table: string): string {
  const topic = `${prefix}.${escapeTopicPart(database)}.${escapeTopicPart(table)}`;
  if (topic.length > 249)
    throw new Error(`Kafka topic name for ${database}.${table} would exceed 249 characters`);
  return topic;
}

export function dlqTopicName(prefix: string): string {
  return `${prefix}.dlq`;
}

/**
 * Remove insignificant whitespace from JSON text without parsing it, so number lexemes (e.g. a
 * 30-digit integer inside a JSON column) are kept exactly as the database wrote them.
 */
export function compactJson(text: string): string {
  return text.replace(/("(?:[^"\\]|\\.)*")|[ \t\r\n]+/g, (_m, quoted: string | undefined) => quoted ?? '');
}

/** Parse an event value; big integers stay strings by contract, so plain JSON.parse is enough. */
export function parseEvent(value: string): ChangeEvent {
  return JSON.parse(value) as ChangeEvent;
}
