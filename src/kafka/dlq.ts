// Dead letters: list what the Spark job put on the DLQ topic, and re-drive the original events to
// their table topics once the rule that rejected them is fixed (docs/dlq.md, decision 0030).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { configFromCommand } from '../capture/cli.ts';
import { dlqTopicName } from '../model/event.ts';
import { createAdmin, createProducer, readTopics, type KafkaSettings } from './client.ts';
import { formatTable } from '../format/table.ts';

export interface DeadLetter {
  /** Where the dead letter itself sits on the DLQ topic: the identity redrive records. */
  dlqPartition: number;
  dlqOffset: bigint;
  /** The DLQ message key: the original message key. */
  messageKey: string;
  table: string;
  key: string;
  rule: string;
  message: string;
  failures: { rule: string; message: string }[];
  /** The original message value as text (null for a tombstone that failed). */
  event: string | null;
  /**
   * True when the job kept only the beginning of the event (it was above 512 KiB; decision 0031):
   * such a letter shows what arrived but cannot be re-driven.
   */
  eventTruncated: boolean;
  /** Size of the original event in UTF-8 bytes, when the job recorded it. */
  eventBytes: number | null;
  topic: string;
  partition: number | null;
  offset: number | string | null;
  timeMs: number;
}

export interface DlqFilter {
  table?: string | undefined;
  rule?: string | undefined;
}

/** A table filter matches `db.table` or the bare table name, since users think in either. */
function matches(letter: DeadLetter, filter: DlqFilter): boolean {
  if (filter.table && letter.table !== filter.table && letter.table.split('.').pop() !== filter.table)
    return false;
  if (filter.rule && letter.rule !== filter.rule) return false;
  return true;
}

/** Every dead letter on the topic at call time, oldest first (by DLQ time, then position). */
export async function readDeadLetters(
  kafka: KafkaSettings,
  dlqTopic: string,
  filter: DlqFilter = {},
): Promise<DeadLetter[]> {
  // A topic nobody has dead-lettered to yet may not exist; that is an empty DLQ, not an error.
  const admin = createAdmin(kafka);
  try {
    if (!(await admin.listTopics()).includes(dlqTopic)) return [];
  } finally {
    await admin.close();
  }
  const messages = await readTopics(kafka, [dlqTopic]);
  const out: DeadLetter[] = [];
  for (const m of messages) {
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(m.value ?? 'null') as Record<string, unknown>;
    } catch {
      continue;
    }
    if (!v || typeof v !== 'object') continue;
    const letter: DeadLetter = {
      dlqPartition: m.partition,
      dlqOffset: m.offset,
      messageKey: m.key,
      table: String(v.table ?? ''),
      key: typeof v.key === 'string' ? v.key : JSON.stringify(v.key ?? m.key),
      rule: String(v.rule ?? ''),
      message: String(v.message ?? ''),
      failures: Array.isArray(v.failures) ? (v.failures as { rule: string; message: string }[]) : [],
      event: typeof v.event === 'string' ? v.event : null,
      eventTruncated: v.eventTruncated === true,
      eventBytes: typeof v.eventBytes === 'number' ? v.eventBytes : null,
      topic: String(v.topic ?? ''),
      partition: typeof v.partition === 'number' ? v.partition : null,
      offset: (v.offset as number | string | undefined) ?? null,
      timeMs: typeof v.ts_ms === 'number' ? v.ts_ms : Number(m.timestamp),
    };
    if (matches(letter, filter)) out.push(letter);
  }
  out.sort(
    (a, b) => a.timeMs - b.timeMs || a.dlqPartition - b.dlqPartition || Number(a.dlqOffset - b.dlqOffset),
  );
  return out;
}

/** The most recent `limit` dead letters, oldest of them first. */
export async function listDeadLetters(
  kafka: KafkaSettings,
  dlqTopic: string,
  filter: DlqFilter & { limit?: number | undefined } = {},
): Promise<DeadLetter[]> {
  const all = await readDeadLetters(kafka, dlqTopic, filter);
  return all.slice(Math.max(0, all.length - (filter.limit ?? 20)));
}

/**
 * What has been re-driven, per DLQ topic: the DLQ positions (`partition:offset`). A set rather
 * than a high-water mark because filtered redrives (--table, --rule) skip letters in between.
 */
type RedriveState = Record<string, string[]>;

export function redriveStateFile(stateDir: string): string {
  return path.join(stateDir, 'dlq-redrive.json');
}

function readState(file: string): RedriveState {
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')) as RedriveState;
}

function writeState(file: string, state: RedriveState): void {
  mkdirSync(path.dirname(file), { recursive: true });
  // Write-then-rename: a crash mid-write must not lose the record of what was already sent.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

export interface RedriveResult {
  /** Dead letters whose original event was (or, with dryRun, would be) re-published. */
  sent: DeadLetter[];
  /** Matching dead letters skipped: already re-driven, or a duplicate of one sent now. */
  skipped: number;
  /** Matching dead letters that cannot be re-driven (no whole original event or no topic). */
  unusable: (DeadLetter & { unusableReason: string })[];
}

/** Why a dead letter cannot be re-sent, or null when it can. */
function cannotRedrive(letter: DeadLetter): string | null {
  if (letter.eventTruncated)
    // Re-sending the kept beginning would publish a different, broken event.
    return `the original event was ${letter.eventBytes ?? 'over 524288'} bytes and the dead letter holds only its beginning (truncated); re-publish the row from MySQL instead, e.g. \`syncline snapshot --table <table> --restart\` or an UPDATE that touches the row`;
  if (letter.event === null) return 'the dead letter has no original event';
  if (!letter.topic) return 'the dead letter does not name the topic the event came from';
  return null;
}

export async function redriveDeadLetters(
  kafka: KafkaSettings,
  dlqTopic: string,
  options: DlqFilter & { stateFile: string; dryRun?: boolean | undefined },
): Promise<RedriveResult> {
  const letters = await readDeadLetters(kafka, dlqTopic, options);
  const state = readState(options.stateFile);
  const done = new Set(state[dlqTopic] ?? []);
  const result: RedriveResult = { sent: [], skipped: 0, unusable: [] };
  // DLQ delivery is at least once: two letters for one original position are one event to resend.
  const originals = new Set<string>();
  for (const letter of letters) {
    const id = `${letter.dlqPartition}:${letter.dlqOffset}`;
    if (done.has(id)) {
      result.skipped++;
      continue;
    }
    const unusableReason = cannotRedrive(letter);
    if (unusableReason !== null) {
      result.unusable.push({ ...letter, unusableReason });
      continue;
    }
    const original = `${letter.topic}:${letter.partition}:${letter.offset}`;
    if (letter.partition !== null && letter.offset !== null && originals.has(original)) {
      result.skipped++;
      done.add(id);
      continue;
    }
    originals.add(original);
    result.sent.push(letter);
  }
  if (options.dryRun || result.sent.length === 0) return result;
  const producer = createProducer(kafka, '-dlq-redrive');
  try {
    for (let i = 0; i < result.sent.length; i += 500) {
      const batch = result.sent.slice(i, i + 500);
      await producer.send({
        messages: batch.map((l) => ({ topic: l.topic, key: l.messageKey, value: l.event! })),
      });
      // Record after each acknowledged batch so a failure later re-sends at most one batch.
      for (const l of batch) done.add(`${l.dlqPartition}:${l.dlqOffset}`);
      writeState(options.stateFile, { ...state, [dlqTopic]: [...done] });
    }
  } finally {
    await producer.close();
  }
  return result;
}

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function letterJson(l: DeadLetter): Record<string, unknown> {
  return {
    time: new Date(l.timeMs).toISOString(),
    table: l.table,
    key: l.key,
    rule: l.rule,
    message: l.message,
    failures: l.failures,
    topic: l.topic,
    partition: l.partition,
    offset: l.offset,
    eventTruncated: l.eventTruncated,
    eventBytes: l.eventBytes,
    dlq: { partition: l.dlqPartition, offset: String(l.dlqOffset) },
    event: l.event,
  };
}

const positiveInt = (text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--limit must be a positive integer, got ${text}`);
  return n;
};

export function registerDlqCommands(program: Command): void {
  const dlq = program.command('dlq').description('dead letters: events the Spark job rejected');
  dlq
    .command('list')
    .description('print the most recent dead letters: time, table, key, rule, message')
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--table <table>', 'only this table (db.table or table)')
    .option('--limit <n>', 'how many, most recent last', positiveInt, 20)
    .option('--json', 'one JSON object per line, with the failures and the original event')
    .action(async (opts: { table?: string; limit: number; json?: boolean }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const letters = await listDeadLetters(config.kafka, dlqTopicName(config.kafka.topicPrefix), {
        table: opts.table,
        limit: opts.limit,
      });
      if (opts.json) {
        for (const l of letters) print(JSON.stringify(letterJson(l)));
        return;
      }
      if (letters.length === 0) return print('no dead letters');
      print(
        formatTable(
          ['time', 'table', 'key', 'rule', 'message'],
          letters.map((l) => [new Date(l.timeMs).toISOString(), l.table, l.key, l.rule, l.message]),
        ),
      );
    });
  dlq
    .command('redrive')
    .description('re-publish the original events of dead letters to their table topics, once each')
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--table <table>', 'only this table (db.table or table)')
    .option('--rule <rule>', 'only dead letters whose first failing rule is this one')
    .option('--dry-run', 'print what would be re-driven; send and record nothing')
    .action(async (opts: { table?: string; rule?: string; dryRun?: boolean }, cmd: Command) => {
      const config = configFromCommand(cmd);
      const result = await redriveDeadLetters(config.kafka, dlqTopicName(config.kafka.topicPrefix), {
        table: opts.table,
        rule: opts.rule,
        dryRun: opts.dryRun,
        stateFile: redriveStateFile(config.stateDir),
      });
      for (const l of result.unusable)
        print(`cannot re-drive ${l.table} ${l.key} (${l.rule}): ${l.unusableReason}`);
      const verb = opts.dryRun ? 'would re-drive' : 're-drove';
      print(`${verb} ${result.sent.length} dead letter(s); ${result.skipped} already re-driven`);
      for (const l of result.sent) print(`  ${l.table} ${l.key} (${l.rule}) → ${l.topic}`);
    });
}
