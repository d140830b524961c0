/**
 * One pipeline per source and state folder (issue 13, decision 0033), with the real CLI: while a
 * `run` is up, a second `run`, a `spark` and a `snapshot` of the table it is loading are refused,
 * each naming the running pid and command; `run` killed by SIGKILL takes its relay and Spark
 * driver with it and leaves a stale lock that does not block the next `run`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Connection } from 'mysql2/promise';
import { connect } from '../../src/mysql/connect.ts';
import { quoteId } from '../../src/mysql/identifiers.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { cliArgs } from '../support/cli.ts';
import { dropPipeline } from '../support/pipeline.ts';
import { getStack, uniqueName, type TestStack } from '../support/stack.ts';

const ROWS = 3000;

interface Running {
  child: ChildProcess;
  output: () => string;
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
}

let stack: TestStack;
let database: string;
let configFile: string;
let stateDir: string;
const started: ChildProcess[] = [];

function startCli(args: string[]): Running {
  const child = spawn(process.execPath, cliArgs(configFile, stateDir, args), {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (c: Buffer) => {
    text += c.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const waitFor = (pattern: RegExp, timeoutMs = 180_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(text)) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${text.slice(-3000)}`));
      }, timeoutMs);
      listeners.add(check);
      child.once('exit', (code, signal) => {
        check();
        if (!listeners.has(check)) return;
        listeners.delete(check);
        clearTimeout(timer);
        reject(new Error(`exited (${code ?? signal}) before ${pattern}; output:\n${text.slice(-3000)}`));
      });
      check();
    });
  return { child, output: () => text, waitFor };
}

function cli(args: string[]): { code: number; out: string } {
  const r = spawnSync(process.execPath, cliArgs(configFile, stateDir, args), {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process on the machine whose command line names this test's state folder. */
function processesOfThisState(): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (command.includes(stateDir)) found.push({ pid: Number(entry), command });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function pidFile(): Record<string, number> {
  const dir = join(stateDir, 'run');
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  assert.ok(file, `run wrote no pid file in ${dir}`);
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, number>;
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const exited = new Promise((resolve) => r.child.once('exit', resolve));
  r.child.kill('SIGTERM');
  await exited;
}

describe('one pipeline per source and state folder', () => {
  before(async () => {
    stack = await getStack();
    database = uniqueName('run_lock');
    const conn = await connect({ url: stack.mysqlUrl });
    try {
      await conn.query(`CREATE DATABASE ${quoteId(database)}`);
      await conn.query(
        `CREATE TABLE ${quoteId(database)}.items (id INT PRIMARY KEY, note VARCHAR(40) NOT NULL)`,
      );
      const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 'row ${i + 1}')`).join(',');
      await conn.query(`INSERT INTO ${quoteId(database)}.items VALUES ${values}`);
    } finally {
      await conn.end();
    }
    const dir = mkdtempSync(join(tmpdir(), 'syncline-run-lock-'));
    stateDir = join(dir, 'state');
    configFile = join(dir, 'syncline.yaml');
    writeFileSync(
      configFile,
      `source:
  url: ${stack.mysqlUrl}
  database: ${database}
  tables: [items]
kafka:
  brokers: [${stack.kafkaBrokers.join(', ')}]
  topicPrefix: ${uniqueName('lock')}
  partitions: 1
spark:
  triggerInterval: 1 second
sinks:
  mongodb:
    url: ${stack.mongoUrl}
    database: ${database}
  redis:
    url: ${stack.redisUrl}
`,
    );
  });

  after(async () => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const p of stateDir ? processesOfThisState() : []) process.kill(p.pid, 'SIGKILL');
    if (configFile) await dropPipeline({ configFile, stateDir });
  });

  test('a second run, a spark and a snapshot of the table being loaded are refused, naming the running run; SIGKILL leaves nothing running and no lock that blocks', async () => {
    const first = startCli(['run', '--skip-check', '--metrics-port', '0']);
    const firstPid = first.child.pid!;
    // Hold the last row so that the first run's snapshot is still loading `items` when the
    // `snapshot` command below asks for it (its chunks share-lock their rows and wait for us).
    await first.waitFor(/run: 1 tables captured/);
    let holder: Connection | null = await connect({ url: stack.mysqlUrl, database });
    await holder.query('BEGIN');
    await holder.query('SELECT * FROM items WHERE id = ? FOR UPDATE', [ROWS]);
    try {
      await first.waitFor(/run: snapshot of items/);

      const second = cli(['run', '--skip-check', '--metrics-port', '0']);
      assert.equal(second.code, 1, second.out);
      assert.match(second.out, new RegExp(`already running for the database ${database}`));
      assert.match(second.out, new RegExp(`pid ${firstPid}\\b[^\\n]*main\\.ts[^\\n]* run --skip-check`));

      console.log(`# second run refused: ${second.out.trim().split('\n').pop()}`);
      const spark = cli(['spark']);
      assert.equal(spark.code, 1, spark.out);
      assert.match(spark.out, new RegExp(`\\(run\\) is already running[^\\n]*pid ${firstPid}\\b`));

      const snapshot = cli(['snapshot', '--table', 'items']);
      assert.equal(snapshot.code, 1, snapshot.out);
      assert.match(
        snapshot.out,
        new RegExp(`items is being loaded right now by \`syncline run\` \\(pid ${firstPid}\\b`),
      );
    } finally {
      await holder.query('COMMIT');
      await holder.end();
      holder = null;
    }
    await first.waitFor(/run: snapshot items: 3000 rows/);
    await until(
      'run started its relay and Spark driver',
      () => {
        const pids = pidFile();
        return pids.relay !== undefined && pids.spark !== undefined;
      },
      60_000,
    );
    const { relay, spark } = pidFile();
    assert.ok(alive(relay!) && alive(spark!), 'relay and Spark driver are running');

    // A user's `kill -9`: nothing tells the children; they notice their parent is gone.
    first.child.kill('SIGKILL');
    await until(
      `relay ${relay} and Spark driver ${spark} did not exit after run was killed`,
      () => !alive(relay!) && !alive(spark!),
      60_000,
    );
    assert.deepEqual(processesOfThisState(), [], 'no process of this pipeline is left');
    const lockFile = readdirSync(join(stateDir, 'run')).find((f) => f.endsWith('.lock'));
    assert.ok(lockFile, 'SIGKILL left the lock file behind (it must be recognised as stale)');
    assert.equal(JSON.parse(readFileSync(join(stateDir, 'run', lockFile), 'utf8')).pid, firstPid);

    const again = startCli(['run', '--skip-check', '--metrics-port', '0']);
    await again.waitFor(/run: relay and Spark job started/);
    assert.doesNotMatch(again.output(), /already running/);
    await stop(again);
    assert.equal(again.child.exitCode, 0, again.output().slice(-2000));
    assert.equal(existsSync(join(stateDir, 'run', lockFile)), false, 'a clean stop removes the lock');
  });
});
