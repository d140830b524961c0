/**
 * The lock behind "one pipeline per source and state" (decision 0033), with real processes: a
 * live holder refuses and is named; a holder killed by SIGKILL, or whose pid now runs another
 * program, does not block.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import {
  acquireLock,
  commandLineOf,
  LockHeldError,
  pipelineLockFile,
  startTimeOf,
  type LockHolder,
} from '../../src/pipeline/lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'syncline-lock-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const refuse = (h: LockHolder) => `held by pid ${h.pid}: ${h.command}`;

/** Another process that takes the lock and keeps it until it is killed. */
async function holderProcess(file: string): Promise<ChildProcess> {
  const script = `const m = await import(${JSON.stringify(join(PROJECT_ROOT, 'src', 'pipeline', 'lock.ts'))});
m.acquireLock(${JSON.stringify(file)}, { role: 'run', refuse: () => 'refused' });
process.stdout.write('locked\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, 'run'], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => c.toString().includes('locked') && resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  return child;
}

describe('pipeline lock', () => {
  test('a second taker is refused with the running holder’s pid and command line', async () => {
    const file = pipelineLockFile(dir, 'syncline-shop');
    const holder = await holderProcess(file);
    let caught: unknown;
    try {
      acquireLock(file, { role: 'run', refuse });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof LockHeldError, `expected a refusal, got ${String(caught)}`);
    assert.equal(caught.holder.pid, holder.pid);
    assert.match(caught.message, new RegExp(`held by pid ${holder.pid}: .*--input-type=module`));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
  });

  test('a lock left by a SIGKILLed holder does not block the next start', async () => {
    const file = pipelineLockFile(dir, 'syncline-killed');
    const holder = await holderProcess(file);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    assert.ok(existsSync(file), 'SIGKILL cannot remove the file: the test must see it stale');
    const lock = acquireLock(file, { role: 'run', refuse });
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
    lock.release();
    assert.equal(existsSync(file), false, 'release removes the lock');
  });

  test('a lock whose pid now runs another program (or started later) does not block', async () => {
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(other);
    await new Promise((r) => other.once('spawn', r));
    const file = pipelineLockFile(dir, 'syncline-reused');
    // The pid is alive, but its command line is not the one that took the lock.
    const reused: LockHolder = {
      pid: other.pid!,
      startTime: startTimeOf(other.pid!),
      command: '/usr/bin/node --import tsx src/cli/main.ts run',
      role: 'run',
      since: '2026-01-01T00:00:00.000Z',
    };
    writeFileSync(file, JSON.stringify(reused));
    acquireLock(file, { role: 'run', refuse }).release();
    // Same command line, other start time: the same program started again under a recycled pid.
    const restarted: LockHolder = {
      ...reused,
      command: commandLineOf(other.pid!)!,
      startTime: `${startTimeOf(other.pid!)}0`,
    };
    writeFileSync(file, JSON.stringify(restarted));
    acquireLock(file, { role: 'run', refuse }).release();
    // Control: the very same holder, still running, is respected.
    writeFileSync(file, JSON.stringify({ ...restarted, startTime: startTimeOf(other.pid!) }));
    assert.throws(() => acquireLock(file, { role: 'run', refuse }), LockHeldError);
    other.kill('SIGKILL');
  });

  test('two takers in one process: the second is refused until the first releases', () => {
    const file = pipelineLockFile(dir, 'syncline-same-process');
    const first = acquireLock(file, { role: 'run', refuse });
    assert.throws(() => acquireLock(file, { role: 'spark', refuse }), /held by pid/);
    first.release();
    acquireLock(file, { role: 'spark', refuse }).release();
  });
});
