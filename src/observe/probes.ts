// One answer from each service a pipeline needs, worded as a ServiceError that names the service
// and the setting: `run` waits on them before it changes anything, `doctor` reports them.
import { Admin } from '@platformatic/kafka';
import { MongoClient } from 'mongodb';
import { createClient } from 'redis';
import type { Config } from '../config/load.ts';
import { redact } from '../config/redact.ts';
import { hostOf, urlWithPassword } from '../config/urls.ts';
import { ServiceError, describeNetworkError } from '../errors/registry.ts';
import { connectionOptions } from '../kafka/client.ts';
import { withTimeout } from '../stack/process.ts';

const message = (err: unknown): string => redact(err instanceof Error ? err.message : String(err));

/** Kafka answers a metadata request; returns how many brokers it reports. */
export async function probeKafka(config: Config): Promise<number> {
  const admin = new Admin({
    ...connectionOptions(config.kafka, '-preflight'),
    retries: 0,
    connectTimeout: 3000,
  });
  try {
    const md = await withTimeout(admin.metadata({ topics: [] }), 8000, 'Kafka metadata request');
    return md.brokers.size;
  } catch (err) {
    throw new ServiceError(
      'SYNCLINE_KAFKA_UNREACHABLE',
      `no broker of ${config.kafka.brokers.join(',')} answered: ${describeNetworkError(err) ?? message(err)}`,
      { cause: err },
    );
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** A sink that did not answer: a refused login (waiting cannot help) or no connection. */
function sinkFailure(
  sink: 'MONGODB' | 'REDIS',
  url: string,
  err: unknown,
  refusedLogin: (text: string) => boolean,
): ServiceError {
  const text = message(err);
  if (refusedLogin(text))
    return new ServiceError(`SYNCLINE_${sink}_AUTH`, `login refused by ${hostOf(url)}: ${text}`, {
      cause: err,
    });
  return new ServiceError(
    `SYNCLINE_${sink}_UNREACHABLE`,
    `cannot connect to ${hostOf(url)}: ${describeNetworkError(err) ?? text}`,
    { cause: err },
  );
}

export async function probeMongo(config: Config): Promise<void> {
  const { url, password, database } = config.sinks.mongodb;
  const client = new MongoClient(urlWithPassword(url, password), { serverSelectionTimeoutMS: 4000 });
  try {
    await client.connect();
    await client.db(database).command({ ping: 1 });
  } catch (err) {
    throw sinkFailure(
      'MONGODB',
      url,
      err,
      (text) => /auth|credential|password/i.test(text) || (err as { code?: unknown }).code === 18,
    );
  } finally {
    await client.close().catch(() => undefined);
  }
}

export async function probeRedis(config: Config): Promise<void> {
  const { url, password } = config.sinks.redis;
  const client = createClient({
    url: urlWithPassword(url, password),
    socket: { connectTimeout: 4000, reconnectStrategy: false },
  });
  client.on('error', () => {});
  try {
    await withTimeout(client.connect(), 6000, 'Redis connect');
    await client.ping();
  } catch (err) {
    throw sinkFailure('REDIS', url, err, (text) => /WRONGPASS|NOAUTH|invalid password|AUTH/i.test(text));
  } finally {
    client.destroy();
  }
}

// MongoDB's naming rules (https://www.mongodb.com/docs/manual/reference/limits/#naming-restrictions):
// a database name has none of /\. "$ or NUL and fewer than 64 bytes; a collection name has no $ or
// NUL, is not empty and does not start with "system."; database + "." + collection ≤ 255 bytes.
