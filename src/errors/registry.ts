// The errors a user meets when a service is unreachable or misconfigured, in one place so that
// every command words them the same way: a stable code, the service, the setting to look at, the
// likely cause and the fix. docs/errors.md lists the same entries.

export type ServiceErrorCode =
  | 'SYNCLINE_MYSQL_UNREACHABLE'
  | 'SYNCLINE_MYSQL_AUTH'
  | 'SYNCLINE_MYSQL_DATABASE'
  | 'SYNCLINE_MYSQL_PRIVILEGES'
  | 'SYNCLINE_KAFKA_UNREACHABLE'
  | 'SYNCLINE_MONGODB_UNREACHABLE'
  | 'SYNCLINE_MONGODB_AUTH'
  | 'SYNCLINE_MONGODB_NAME'
  | 'SYNCLINE_REDIS_UNREACHABLE'
  | 'SYNCLINE_REDIS_AUTH';

interface Entry {
  service: string;
  setting: string;
  fix: string;
}

export const SERVICE_ERRORS: Record<ServiceErrorCode, Entry> = {
  SYNCLINE_MYSQL_UNREACHABLE: {
    service: 'MySQL',
    setting: 'source.url',
    fix: 'check the host and port in source.url and that the server is running and reachable from here',
  },
  SYNCLINE_MYSQL_AUTH: {
    service: 'MySQL',
    setting: 'source.password',
    fix: 'check the user in source.url and the secret behind source.password / source.passwordFile (the environment variable or file it names)',
  },
  SYNCLINE_MYSQL_DATABASE: {
    service: 'MySQL',
    setting: 'source.database',
    fix: 'set source.database (or --database) to an existing database, or grant the user access to it',
  },
  SYNCLINE_MYSQL_PRIVILEGES: {
    service: 'MySQL',
    setting: 'the user in source.url',
    fix: 'run the GRANT named above as an administrator (docs/capture.md, "MySQL privileges"; `syncline doctor` lists every privilege that is missing)',
  },

  SYNCLINE_KAFKA_UNREACHABLE: {
    service: 'Kafka',
    setting: 'kafka.brokers',
    fix: 'check kafka.brokers (host:port of at least one broker) and that Kafka is running; for a secured cluster also kafka.tls and kafka.sasl',
  },
  SYNCLINE_MONGODB_UNREACHABLE: {
    service: 'MongoDB',
    setting: 'sinks.mongodb.url',
    fix: 'check the host and port in sinks.mongodb.url and that MongoDB is running and reachable from here',
  },
  SYNCLINE_MONGODB_AUTH: {
    service: 'MongoDB',
    setting: 'sinks.mongodb.password',
    fix: 'check the user in sinks.mongodb.url and the secret behind sinks.mongodb.password / passwordFile',
  },
  SYNCLINE_MONGODB_NAME: {
    service: 'MongoDB',
    setting: 'sinks.mongodb.database',
    fix: 'map the name to a legal one: sinks.mongodb.database for the database, tables.<table>.mongodb.collection for a collection (or tables.<table>.mongodb.enabled: false)',
  },
  SYNCLINE_REDIS_UNREACHABLE: {
    service: 'Redis',
    setting: 'sinks.redis.url',
    fix: 'check the host and port in sinks.redis.url and that Redis is running and reachable from here',
  },
  SYNCLINE_REDIS_AUTH: {
    service: 'Redis',
    setting: 'sinks.redis.password',
    fix: 'check the user in sinks.redis.url and the secret behind sinks.redis.password / passwordFile',
  },
};

/** An error with a stable code; its message already carries the setting and the fix. */
export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    readonly code: ServiceErrorCode,
    /** What happened, e.g. "cannot connect to 127.0.0.1:1: connection refused". Redacted by the caller. */
    readonly detail: string,
    options: { setting?: string; cause?: unknown } = {},
  ) {
    const entry = SERVICE_ERRORS[code];
    super(
      `[${code}] ${entry.service}: ${detail} (setting: ${options.setting ?? entry.setting}). To fix: ${entry.fix}.`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
  }

  /** Waiting cannot help: a wrong password or a name the server refuses stays wrong. */
  get permanent(): boolean {
    return /_AUTH$|_NAME$|_DATABASE$|_PRIVILEGES$/.test(this.code);
  }
}

/** The errno-style code of a network error, looked for along the cause chain. */
export function networkCode(err: unknown): string | undefined {
  for (
    let e = err as { code?: unknown; cause?: unknown; errors?: unknown[] } | undefined, i = 0;
    e && i < 6;
    i++
  ) {
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code;
    if (Array.isArray(e.errors) && e.errors[0]) e = e.errors[0] as typeof e;
    else e = e.cause as typeof e;
  }
  return undefined;
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused: nothing listens there',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ECONNRESET: 'connection reset',
};

export function describeNetworkError(err: unknown): string | undefined {
  const code = networkCode(err);
  return code ? (NETWORK_WORDS[code] ?? code) : undefined;
}
