// Loads syncline.yaml once into resolved values: defaults applied, ${ENV} references and secret
// files read, local-stack URLs filled in. Everything downstream takes a Config and never reads
// the environment or the file again.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type RawConfig, type TableSettings } from './schema.ts';
import { redact, registerSecret } from './redact.ts';
import { readStackUrls } from '../stack/urls.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface KafkaTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

export interface Config {
  /** The file read, or null when running on defaults alone. */
  file: string | null;
  stateDir: string;
  source: {
    name: string;
    url: string;
    password: string | undefined;
    database: string;
    tables: string[] | '*';
    capture: 'trigger' | 'binlog';
    relay: {
      batchSize: number;
      maxRequestBytes: number;
      maxEventBytes: number;
      pollIntervalMs: number;
      lockWaitSeconds: number;
    };
  };
  kafka: {
    brokers: string[];
    topicPrefix: string;
    partitions: number;
    replicationFactor: number;
    clientId: string;
    tls: KafkaTls | undefined;
    sasl:
      | { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string }
      | undefined;
  };
  spark: RawConfig['spark'] & { checkpointDir: string };
  sinks: {
    mongodb: { url: string; password: string | undefined; database: string };
    redis: { url: string; password: string | undefined; format: 'hash' | 'json'; ttl: number | undefined };
  };
  tables: Record<string, TableSettings>;
}

export interface LoadOptions {
  /** Path given with --config; when set, the file must exist. */
  configPath?: string | undefined;
  stateDir?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags that win over the file (e.g. --database). */
  overrides?: { database?: string | undefined };
  cwd?: string;
}

const DEFAULT_FILE = 'syncline.yaml';
const SECRET_KEY = /pass|secret|token/i;

function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of p) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  // Never echo what was written under a secret-looking key: it may be the secret itself.
  const hideValue = SECRET_KEY.test(String(issue.path[issue.path.length - 1] ?? ''));
  const describeValue = (v: unknown): string =>
    hideValue ? 'a value that is not shown' : describeValueOf(v);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys
        .map((k) => `${where === '(top level)' ? k : `${where}.${k}`}: unknown key`)
        .join('\n');
    case 'invalid_type':
      return `${where}: expected ${issue.expected}${issue.input === undefined ? ' (missing)' : `, got ${describeValue(issue.input)}`}`;
    case 'invalid_value':
      return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(issue.input)}`;
    default:
      return `${where}: ${issue.message.replace(/^Invalid (input|string): /, 'expected ')}`;
  }
}

function describeValueOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Human-readable list of zod issues, one per line, each starting with the key path. */
export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>): string {
  return issues.map(describeIssue).join('\n');
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replace ${NAME} in every string, collecting errors for unset variables. */
function substituteEnv(value: unknown, at: PropertyKey[], env: NodeJS.ProcessEnv, errors: string[]): unknown {
  if (typeof value === 'string') {
    const key = String(at[at.length - 1] ?? '');
    return value.replace(ENV_REF, (_m, name: string) => {
      const resolved = env[name];
      if (resolved === undefined || resolved === '') {
        errors.push(
          `${formatPath(at)}: environment variable ${name} is not set (export it, or use the *File form)`,
        );
        return '';
      }
      if (SECRET_KEY.test(key)) registerSecret(resolved);
      return resolved;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, [...at, i], env, errors));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, [...at, k], env, errors)]),
    );
  }
  return value;
}

function readSecretFile(file: string, at: string, baseDir: string, errors: string[]): string | undefined {
  const full = path.resolve(baseDir, file);
  try {
    const value = readFileSync(full, 'utf8').trim();
    if (!value) errors.push(`${at}: file ${full} is empty`);
    registerSecret(value);
    return value;
  } catch (err) {
    errors.push(`${at}: cannot read secret file ${full} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

function readFile(file: string, at: string, baseDir: string, errors: string[]): string | undefined {
  const full = path.resolve(baseDir, file);
  try {
    return readFileSync(full, 'utf8');
  } catch (err) {
    errors.push(`${at}: cannot read file ${full} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

/** Pick the password from `password` (already substituted) or `passwordFile`. */
function secret(
  section: { password?: string | undefined; passwordFile?: string | undefined },
  at: string,
  baseDir: string,
  errors: string[],
): string | undefined {
  if (section.password !== undefined && section.passwordFile !== undefined) {
    errors.push(`${at}: set either password or passwordFile, not both`);
  }
  if (section.passwordFile !== undefined)
    return readSecretFile(section.passwordFile, `${at}.passwordFile`, baseDir, errors);
  return section.password;
}

/** A URL must not carry its password inline in the file. */
function checkNoInlinePassword(raw: string | undefined, at: string, errors: string[]): void {
  if (!raw) return;
  const m = /^[a-z+]+:\/\/[^/@]*:([^/@]*)@/i.exec(raw);
  if (m && m[1] && !/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(m[1])) {
    errors.push(
      `${at}: the URL contains a password; remove it and set ${at.replace(/\.url$/, '')}.password: \${ENV_NAME} or passwordFile instead`,
    );
  }
}

function registerUrlPassword(url: string | undefined): void {
  if (!url) return;
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      registerSecret(decodeURIComponent(parsed.password));
      registerSecret(parsed.password);
    }
  } catch {
    // not a parseable URL: nothing to register
  }
}

/** Parse and resolve a config object (as read from YAML). Throws ConfigError listing every problem. */
export function resolveConfig(input: unknown, options: LoadOptions & { file?: string | null } = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const stateDir = path.resolve(cwd, options.stateDir ?? '.syncline');
  const file = options.file ?? null;
  const baseDir = file ? path.dirname(file) : cwd;
  const label = file ?? 'configuration';

  const parsed = configSchema.safeParse(input ?? {}, { reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(`${label} is invalid:\n${formatIssues(parsed.error.issues)}`);
  }
  const errors: string[] = [];
  checkNoInlinePassword(parsed.data.source.url, 'source.url', errors);
  checkNoInlinePassword(parsed.data.sinks.mongodb.url, 'sinks.mongodb.url', errors);
  checkNoInlinePassword(parsed.data.sinks.redis.url, 'sinks.redis.url', errors);

  const raw = substituteEnv(parsed.data, [], env, errors) as RawConfig;
  for (const url of [raw.source.url, raw.sinks.mongodb.url, raw.sinks.redis.url]) registerUrlPassword(url);

  const sourcePassword = secret(raw.source, 'source', baseDir, errors);
  const mongoPassword = secret(raw.sinks.mongodb, 'sinks.mongodb', baseDir, errors);
  const redisPassword = secret(raw.sinks.redis, 'sinks.redis', baseDir, errors);

  let sasl: Config['kafka']['sasl'];
  if (raw.kafka.sasl) {
    const password = secret(raw.kafka.sasl, 'kafka.sasl', baseDir, errors);
    if (password === undefined)
      errors.push('kafka.sasl: a password (${ENV} reference) or passwordFile is required');
    sasl = {
      mechanism: raw.kafka.sasl.mechanism,
      username: raw.kafka.sasl.username,
      password: password ?? '',
    };
  }
  let tls: KafkaTls | undefined;
  if (raw.kafka.tls === true) tls = { rejectUnauthorized: true };
  else if (raw.kafka.tls && typeof raw.kafka.tls === 'object') {
    const t = raw.kafka.tls;
    tls = { rejectUnauthorized: t.rejectUnauthorized };
    if (t.caFile) tls.ca = readFile(t.caFile, 'kafka.tls.caFile', baseDir, errors);
    if (t.certFile) tls.cert = readFile(t.certFile, 'kafka.tls.certFile', baseDir, errors);
    if (t.keyFile) {
      tls.key = readFile(t.keyFile, 'kafka.tls.keyFile', baseDir, errors);
      registerSecret(tls.key);
    }
    if (t.servername) tls.servername = t.servername;
  }

  const database = options.overrides?.database ?? raw.source.database;
  if (!database) errors.push('source.database: required (set it in syncline.yaml or pass --database)');

  // Fill in the local stack's URLs for whatever the file leaves out.
  const needsStack = !raw.source.url || !raw.kafka.brokers || !raw.sinks.mongodb.url || !raw.sinks.redis.url;
  const stack = needsStack ? readStackUrls(stateDir) : null;
  const pick = (value: string | undefined, fromStack: string | undefined, at: string): string => {
    if (value) return value;
    if (fromStack) return fromStack;
    errors.push(
      `${at}: not set, and no local stack found at ${path.join(stateDir, 'stack.json')} (run \`syncline stack up\`, or set ${at})`,
    );
    return '';
  };
  const sourceUrl = pick(raw.source.url, stack?.mysql, 'source.url');
  const brokers = raw.kafka.brokers ?? (stack?.kafka ? stack.kafka.split(',') : undefined);
  if (!brokers) pick(undefined, undefined, 'kafka.brokers');
  const mongoUrl = pick(raw.sinks.mongodb.url, stack?.mongodb, 'sinks.mongodb.url');
  const redisUrl = pick(raw.sinks.redis.url, stack?.redis, 'sinks.redis.url');

  if (errors.length > 0) throw new ConfigError(redact(`${label} is invalid:\n${errors.join('\n')}`));

  return {
    file,
    stateDir,
    source: {
      name: raw.source.name ?? raw.kafka.topicPrefix,
      url: sourceUrl,
      password: sourcePassword,
      database: database as string,
      tables: raw.source.tables,
      capture: raw.source.capture,
      relay: raw.source.relay,
    },
    kafka: {
      brokers: brokers ?? [],
      topicPrefix: raw.kafka.topicPrefix,
      partitions: raw.kafka.partitions,
      replicationFactor: raw.kafka.replicationFactor,
      clientId: raw.kafka.clientId,
      tls,
      sasl,
    },
    spark: {
      ...raw.spark,
      checkpointDir: path.resolve(
        baseDir,
        raw.spark.checkpointDir ?? path.join(stateDir, 'spark', 'checkpoints'),
      ),
    },
    sinks: {
      mongodb: {
        url: mongoUrl,
        password: mongoPassword,
        database: raw.sinks.mongodb.database ?? (database as string),
      },
      redis: {
        url: redisUrl,
        password: redisPassword,
        format: raw.sinks.redis.format,
        ttl: raw.sinks.redis.ttl,
      },
    },
    tables: raw.tables,
  };
}

/**
 * Read the config file (syncline.yaml in the working directory unless --config names another).
 * Without an explicit --config, a missing default file means "defaults only".
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const file = path.resolve(cwd, options.configPath ?? DEFAULT_FILE);
  if (!existsSync(file)) {
    if (options.configPath) throw new ConfigError(`config file ${file} not found (--config)`);
    return resolveConfig({}, { ...options, file: null });
  }
  const doc = parseDocument(readFileSync(file, 'utf8'), { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${file} is not valid YAML:\n${doc.errors.map((e) => e.message).join('\n')}`);
  }
  return resolveConfig(doc.toJS() ?? {}, { ...options, file });
}

/**
 * Per-table settings must name captured tables: a misspelt `tables.custmers` would otherwise be
 * ignored silently. Called once the catalog is known.
 */
export function checkTableSettings(config: Config, capturedNames: string[]): void {
  const unknown = Object.keys(config.tables).filter((name) => !capturedNames.includes(name));
  if (unknown.length > 0) {
    throw new ConfigError(
      `${config.file ?? 'configuration'} is invalid:\n${unknown
        .map(
          (name) => `tables.${name}: not a captured table (captured: ${capturedNames.join(', ') || 'none'})`,
        )
        .join('\n')}`,
    );
  }
}
