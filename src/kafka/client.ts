// Kafka clients built from the resolved config: the idempotent producer the relay uses, topic
// creation, and a bounded reader (earliest → current end) for tests, golden files and tools.
import {
  Admin,
  Consumer,
  ProduceAcks,
  Producer,
  compatibilityPartitioner,
  stringDeserializers,
  stringSerializers,
  type BaseOptions,
  type Message,
} from '@platformatic/kafka';
import type { Config } from '../config/load.ts';

export type KafkaSettings = Pick<Config['kafka'], 'brokers' | 'clientId' | 'tls' | 'sasl'>;

export function connectionOptions(kafka: KafkaSettings, clientIdSuffix = ''): BaseOptions {
  const options: BaseOptions = {
    clientId: kafka.clientId + clientIdSuffix,
    bootstrapBrokers: kafka.brokers,
  };
  if (kafka.tls) options.tls = { ...kafka.tls };
  if (kafka.sasl)
    options.sasl = {
      mechanism: kafka.sasl.mechanism,
      username: kafka.sasl.username,
      password: kafka.sasl.password,
    };
  return options;
}

export type StringProducer = Producer<string, string, string, string>;

/**
 * An idempotent producer (acks=all, one in-flight request, broker-side dedup of retries): with
 * replicated topics an event is acknowledged only once min.insync.replicas brokers hold it. Keys are
 * partitioned with the Java client's murmur2 formula so that every producer of the pipeline,
 * whatever its language, puts one key in the same partition.
 */
export function createProducer(kafka: KafkaSettings, clientIdSuffix = '-relay'): StringProducer {
  return new Producer({
    ...connectionOptions(kafka, clientIdSuffix),
    idempotent: true,
    // Implied by idempotence; spelled out because losing it would silently weaken durability.
    acks: ProduceAcks.ALL,
    serializers: stringSerializers,
    partitioner: compatibilityPartitioner,
    retries: 5,
    retryDelay: 200,
    timeout: 15_000,
  });
}

export function createAdmin(kafka: KafkaSettings): Admin {
  return new Admin({ ...connectionOptions(kafka, '-admin') });
}

/**
 * Deletes the existing topics that `wanted` picks and returns them. The broker finishes a deletion
 * after it answers: a caller about to recreate one waits until it is gone from the list.
 */
export async function deleteTopicsWhere(admin: Admin, wanted: (topic: string) => boolean): Promise<string[]> {
  const topics = (await admin.listTopics()).filter(wanted);
  if (topics.length > 0) await admin.deleteTopics({ topics });
  return topics;
}

/**
 * Topic settings beyond partitions and replicas. With three or more copies a write is only
 * acknowledged once two hold it (acks=all waits for the in-sync set): one broker may then die
 * without losing an acknowledged event, and producers keep going while it is away. With fewer
 * copies, or the broker default (-1), the broker's own min.insync.replicas applies.
 */
export function topicConfigs(replicationFactor: number): { name: string; value: string }[] {
  return replicationFactor >= 3 ? [{ name: 'min.insync.replicas', value: '2' }] : [];
}

/** Create the topics that do not exist yet; returns the ones created. */
export async function ensureTopics(
  admin: Admin,
  topics: string[],
  options: { partitions: number; replicationFactor: number },
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({
      topics: missing,
      partitions: options.partitions,
      replicas: options.replicationFactor,
      configs: topicConfigs(options.replicationFactor),
    });
  } catch (err) {
    // Another process may have created some of them in between; only a still-missing topic is a failure.
    const now = new Set(await admin.listTopics());
    const still = missing.filter((t) => !now.has(t));
    if (still.length > 0)
      throw new Error(`cannot create Kafka topics ${still.join(', ')}: ${(err as Error).message}`, {
        cause: err,
      });
  }
  return missing;
}

export interface ReadMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key: string;
  value: string | null;
  timestamp: bigint;
}

/**
 * Read every message of the topics from the beginning up to the end offsets at call time, in
 * partition order (each partition in offset order).
 */
export async function readTopics(
  kafka: KafkaSettings,
  topics: string[],
  timeoutMs = 60_000,
): Promise<ReadMessage[]> {
  const consumer = new Consumer({
    ...connectionOptions(kafka, '-reader'),
    groupId: `syncline-reader-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    deserializers: stringDeserializers,
  });
  try {
    const ends = await consumer.listOffsets({ topics });
    const remaining = new Map<string, bigint>();
    for (const [topic, offsets] of ends) {
      offsets.forEach((end, partition) => {
        if (end > 0n) remaining.set(`${topic}:${partition}`, end);
      });
    }
    const out: ReadMessage[] = [];
    if (remaining.size === 0) return out;
    const stream = await consumer.consume({ topics, mode: 'earliest', autocommit: false, maxWaitTime: 200 });
    const timer = setTimeout(
      () => stream.destroy(new Error(`timed out reading ${topics.join(', ')} after ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      for await (const message of stream as AsyncIterable<Message<string, string, string, string>>) {
        const id = `${message.topic}:${message.partition}`;
        const end = remaining.get(id);
        if (end === undefined || message.offset >= end) continue;
        out.push({
          topic: message.topic,
          partition: message.partition,
          offset: message.offset,
          key: message.key,
          value: message.value ?? null,
          timestamp: message.timestamp,
        });
        if (message.offset + 1n >= end) remaining.delete(id);
        if (remaining.size === 0) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => undefined);
    }
    out.sort((a, b) =>
      a.topic === b.topic
        ? a.partition - b.partition || Number(a.offset - b.offset)
        : a.topic < b.topic
          ? -1
          : 1,
    );
    return out;
  } finally {
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
}
