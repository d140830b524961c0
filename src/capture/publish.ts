// Publishing change events to Kafka, shared by the trigger relay and the binlog reader: topics,
// size limits and dead letters, slices below the broker's request limit, and the `t` fan-out to
// every partition. Both capture modes must put the same bytes on the same partitions.
import type { Logger } from 'pino';
import type { Admin } from '@platformatic/kafka';
import type { Config } from '../config/load.ts';
import { dlqTopicName, topicName } from '../model/event.ts';
import { createAdmin, createProducer, ensureTopics, type StringProducer } from '../kafka/client.ts';
import type { CaptureMetrics } from './metrics.ts';

/** A dead letter's key keeps at most this much of the row's key. */
const DLQ_KEY_CHARS = 16 * 1024;

export interface OutgoingMessage {
  topic: string;
  key: string;
  value: string;
  partition?: number;
}

/** One record on its way to Kafka: a change event, or the dead letter standing in for one. */
export interface Outgoing {
  table: string;
  /** The event's source.seq, as the dead letter names it. */
  seq: string;
  op: string;
  message: OutgoingMessage;
  bytes: number;
  /** Set when this is a dead letter: the seq of the event it stands in for. */
  deadLetterOf?: string;
}

/** The envelope as text: row images are JSON text already and are never re-parsed. */
export function eventValue(e: {
  op: string;
  before: string | null;
  after: string | null;
  sourceName: string;
  database: string;
  table: string;
  capture: 'trigger' | 'binlog' | 'snapshot';
  seq: string;
  tsMs: number;
  now: number;
}): string {
  const source = `{"name":${JSON.stringify(e.sourceName)},"db":${JSON.stringify(e.database)},"table":${JSON.stringify(e.table)},"capture":"${e.capture}","seq":"${e.seq}","ts_ms":${e.tsMs}}`;
  return `{"op":"${e.op}","before":${e.before ?? 'null'},"after":${e.after ?? 'null'},"source":${source},"ts_ms":${e.now}}`;
}

/** The broker's MESSAGE_TOO_LARGE (error code 10), wherever the client nests it. */
export function isMessageTooLarge(err: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown): boolean => {
    if (!e || typeof e !== 'object' || seen.has(e)) return false;
    seen.add(e);
    const o = e as { apiId?: unknown; apiCode?: unknown; errors?: unknown; cause?: unknown };
    if (o.apiId === 'MESSAGE_TOO_LARGE' || o.apiCode === 10) return true;
    if (Array.isArray(o.errors) && o.errors.some(visit)) return true;
    return visit(o.cause);
  };
  return visit(err);
}

export interface PublisherNames {
  /** How a dead letter names the version of the event it replaces, e.g. "changelog seq". */
  seqName: string;
  /** How an error names the source of an event, e.g. "changelog row". */
  rowName: string;
}

export class KafkaPublisher {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #metrics: CaptureMetrics;
  readonly #names: PublisherNames;
  #producer: StringProducer | null = null;
  #admin: Admin | null = null;
  #knownTopics = new Set<string>();
  /** Partition count per topic, for the `t` events that go to every partition. */
  #partitions = new Map<string, number>();
  #deadLettered = 0;

  constructor(config: Config, log: Logger, metrics: CaptureMetrics, names: PublisherNames) {
    this.#config = config;
    this.#log = log;
    this.#metrics = metrics;
    this.#names = names;
  }

  get deadLettered(): number {
    return this.#deadLettered;
  }

  topicFor(table: string): string {
    return topicName(this.#config.kafka.topicPrefix, this.#config.source.database, table);
  }

  /** A topic deleted behind our back must be created again, not assumed. */
  forgetTopics(): void {
    this.#knownTopics.clear();
  }

  /** Creates the topics not seen yet (once per connection; see forgetTopics). */
  async ensureTopics(topics: string[]): Promise<void> {
    const { kafka } = this.#config;
    const missing = topics.filter((t) => !this.#knownTopics.has(t));
    if (missing.length === 0) return;
    this.#admin ??= createAdmin(kafka);
    const created = await ensureTopics(this.#admin, missing, {
      partitions: kafka.partitions,
      replicationFactor: kafka.replicationFactor,
    });
    if (created.length > 0)
      this.#log.info({ topics: created, partitions: kafka.partitions }, 'created topics');
    for (const t of missing) this.#knownTopics.add(t);
  }

  /** A change event, or its dead letter when it is above source.relay.maxEventBytes. */
  async event(e: { table: string; seq: string; op: string }, message: OutgoingMessage): Promise<Outgoing> {
    return this.eventIfSmall(e, message) ?? (await this.oversized(e, message));
  }

  /** The event when it is within source.relay.maxEventBytes, else null (then: oversized()). */
  eventIfSmall(e: { table: string; seq: string; op: string }, message: OutgoingMessage): Outgoing | null {
    const bytes = Buffer.byteLength(message.key) + Buffer.byteLength(message.value);
    // Checked before sending: a broker that refuses the record would refuse it on every retry.
    return bytes > this.#config.source.relay.maxEventBytes ? null : { ...e, message, bytes };
  }

  /** The dead letter of an event above source.relay.maxEventBytes. */
  oversized(e: { table: string; seq: string; op: string }, message: OutgoingMessage): Promise<Outgoing> {
    const maxEvent = this.#config.source.relay.maxEventBytes;
    const bytes = Buffer.byteLength(message.key) + Buffer.byteLength(message.value);
    return this.#deadLetter({ ...e, message, bytes }, `above source.relay.maxEventBytes (${maxEvent} bytes)`);
  }

  /**
   * A TRUNCATE marker goes to every partition of the table's topic, with no key: each partition's
   * consumer must see it after the events of that partition it supersedes (contract/README.md).
   */
  async truncate(
    e: { table: string; seq: string; op: string },
    topic: string,
    value: string,
  ): Promise<Outgoing[]> {
    let count = this.#partitions.get(topic);
    if (count === undefined) {
      this.#admin ??= createAdmin(this.#config.kafka);
      const metadata = await this.#admin.metadata({ topics: [topic] });
      count = metadata.topics.get(topic)?.partitionsCount;
      if (!count) throw new Error(`cannot read the partition count of ${topic}`);
      this.#partitions.set(topic, count);
    }
    return Array.from({ length: count }, (_, partition) => ({
      ...e,
      message: { topic, key: undefined as unknown as string, value, partition },
      bytes: Buffer.byteLength(value),
    }));
  }

  /** Sends everything, in order, and returns once Kafka acknowledged all of it. */
  async send(items: Outgoing[]): Promise<void> {
    this.#producer ??= createProducer(this.#config.kafka);
    try {
      // Brokers refuse a record batch above message.max.bytes (1 MB by default): send in slices
      // below that, one after the other, so per-partition order is kept.
      const limit = this.#config.source.relay.maxRequestBytes;
      let slice: Outgoing[] = [];
      let bytes = 0;
      for (const item of items) {
        const size = item.bytes + 64;
        if (slice.length > 0 && bytes + size > limit) {
          await this.#sendSlice(slice);
          slice = [];
          bytes = 0;
        }
        slice.push(item);
        bytes += size;
      }
      if (slice.length > 0) await this.#sendSlice(slice);
    } catch (err) {
      // A half-sent batch is sent again; drop the producer so its sequence numbers start fresh
      // instead of being rejected as out of order.
      await this.close();
      throw err;
    }
  }

  /**
   * Sends one slice. When the broker answers MESSAGE_TOO_LARGE (its topic's max.message.bytes is
   * below what this relay allows), retrying would fail forever on the same events: the slice is
   * sent again one event at a time and the event the broker refuses alone is replaced by a dead
   * letter. Events of the slice the broker had taken may be published twice, which the
   * version-guarded sinks absorb.
   */
  async #sendSlice(slice: Outgoing[]): Promise<void> {
    try {
      await this.#producer!.send({ messages: slice.map((i) => i.message) });
    } catch (err) {
      if (!isMessageTooLarge(err)) throw err;
      await this.close();
      this.#producer = createProducer(this.#config.kafka);
      if (slice.length > 1) {
        for (const item of slice) await this.#sendSlice([item]);
        return;
      }
      const item = slice[0]!;
      if (item.deadLetterOf !== undefined)
        throw new Error(
          `the broker refused even the ${item.bytes}-byte dead letter for ${this.#names.rowName} ${item.seq} (${item.table}) as too large; check max.message.bytes of ${item.message.topic}`,
          { cause: err },
        );
      await this.#sendSlice([
        await this.#deadLetter(
          item,
          `refused by the broker as too large (MESSAGE_TOO_LARGE: above max.message.bytes of topic ${item.message.topic})`,
        ),
      ]);
    }
  }

  /**
   * The stand-in for an event that cannot be published: a small dead letter on the DLQ topic that
   * names the row, so the change is never dropped silently. Like any event, its source position is
   * released only after Kafka acknowledged it.
   */
  async #deadLetter(item: Outgoing, why: string): Promise<Outgoing> {
    const { kafka, source } = this.#config;
    const event = item.message;
    const { bytes } = item;
    const dlqTopic = dlqTopicName(kafka.topicPrefix);
    await this.ensureTopics([dlqTopic]);
    const table = `${source.database}.${item.table}`;
    const key = event.key.length > DLQ_KEY_CHARS ? event.key.slice(0, DLQ_KEY_CHARS) : event.key;
    const message = `change event of ${bytes} bytes (${this.#names.seqName} ${item.seq}, op ${item.op}) ${why}: not published to ${event.topic}. To deliver it, raise source.relay.maxEventBytes and the topic's max.message.bytes (and the DLQ producer's max.request.size in the Spark job if needed), or make the row smaller, then publish the row again (an UPDATE that touches it, or \`syncline snapshot --table ${item.table} --restart\`)`;
    const rule = 'relay:event_size';
    this.#metrics.deadLetters.inc({ table: item.table, reason: rule });
    this.#deadLettered++;
    this.#log.warn(
      {
        table,
        key,
        seq: item.seq,
        op: item.op,
        bytes,
        limit: source.relay.maxEventBytes,
        topic: event.topic,
        dlqTopic,
      },
      `change event too large; dead-lettered to ${dlqTopic}`,
    );
    const value = JSON.stringify({
      table,
      key,
      ...(key.length < event.key.length ? { keyTruncated: true } : {}),
      rule,
      message,
      failures: [{ rule, message }],
      event: null,
      eventTruncated: true,
      eventBytes: bytes,
      limitBytes: source.relay.maxEventBytes,
      topic: event.topic,
      partition: null,
      offset: null,
      seq: item.seq,
      op: item.op,
      stage: 'relay',
      ts_ms: Date.now(),
    });
    return {
      table: item.table,
      seq: item.seq,
      op: item.op,
      message: { topic: dlqTopic, key, value },
      bytes: Buffer.byteLength(key) + Buffer.byteLength(value),
      deadLetterOf: item.seq,
    };
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    const admin = this.#admin;
    this.#producer = null;
    this.#admin = null;
    if (producer) await new Promise<void>((resolve) => producer.close(true, () => resolve()));
    await admin?.close().catch(() => undefined);
  }
}
