// One pipeline per source and state folder (decision 0033). Two `run`s (or a `run` and a
// `spark`) on one state folder start two Spark drivers on one checkpoint, which corrupts it; a
// `snapshot` of a table that a `run` is loading fights over the same snapshot progress row. A lock
// file in the state folder names its holder (pid, start time, command line) so the second one can
// refuse with that name, and so that a lock left by a SIGKILL is recognised as stale: its pid is
// gone, or now belongs to another program (other start time or command line).
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileSafeName } from '../model/file-names.ts';

export interface LockHolder {
  pid: number;
  /** Start time of the process as the OS reports it (ticks since boot on Linux); null if unknown. */
  startTime: string | null;
  /** The holder's command line, as the OS shows it (what `ps` prints). */
  command: string;
  /** What it does with the lock, e.g. "run" or "snapshot of orders". */
  role: string;
  since: string;
}

export class LockHeldError extends Error {
  override name = 'LockHeldError';
  constructor(
    message: string,
    readonly holder: LockHolder,
  ) {
    super(message);
  }
}

/** The lock of a pipeline's long-running processes (`run`, `spark`). */
export function pipelineLockFile(stateDir: string, pipeline: string): string {
  return join(resolve(stateDir), 'run', `${fileSafeName(pipeline)}.lock`);
}

/** The lock of one table's snapshot, taken by `run` while it loads the table and by `snapshot`. */
export function snapshotLockFile(stateDir: string, pipeline: string, table: string): string {
  return join(resolve(stateDir), 'run', `${fileSafeName(pipeline)}.snapshot.${fileSafeName(table)}.lock`);
}

function procText(pid: number, file: string): string | null {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

function ps(pid: number, field: string): string | null {
  try {
    const out = execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return out === '' ? null : out;
  } catch {
    return null;
  }
}

const hasProc = procText(process.pid, 'stat') !== null;

/** A process's command line, or null when no such process exists. */
export function commandLineOf(pid: number): string | null {
  if (hasProc) {
    const raw = procText(pid, 'cmdline');
    if (raw === null) return null;
    return raw.replace(/\0+$/, '').split('\0').join(' ');
  }
  return ps(pid, 'command');
}

/** When a process started, as an opaque string that differs between two processes with one pid. */
export function startTimeOf(pid: number): string | null {
  if (hasProc) {
    const stat = procText(pid, 'stat');
    if (stat === null) return null;
    // Field 22 (starttime) counted after the command name, which may itself hold spaces and ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  }
  return ps(pid, 'lstart');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is only someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Is the process that wrote this lock still the one running under its pid? A pid the OS handed
 * to another program since (other start time, other command line) does not count.
 */
export function holderRunning(holder: LockHolder): boolean {
  if (!Number.isInteger(holder.pid) || holder.pid <= 0 || !alive(holder.pid)) return false;
  const start = startTimeOf(holder.pid);
  if (holder.startTime !== null && start !== null && start !== holder.startTime) return false;
  const command = commandLineOf(holder.pid);
  if (command !== null && command !== holder.command) return false;
  return true;
}

function readHolder(file: string): LockHolder | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as LockHolder;
    if (typeof parsed.pid === 'number' && typeof parsed.command === 'string') return parsed;
  } catch {
    // fall through: a lock file we cannot read names nobody
  }
  return { pid: 0, startTime: null, command: '(unreadable lock file)', role: 'unknown', since: '' };
}

export interface Lock {
  file: string;
  holder: LockHolder;
  /** Removes the lock if it is still ours; safe to call twice. */
  release(): void;
}

export interface AcquireOptions {
  /** What the lock is for, shown to whoever is refused: "run", "snapshot of orders". */
  role: string;
  /** Builds the refusal message from the running holder. */
  refuse: (holder: LockHolder) => string;
}

/** Who is running this: the same strings another process reads back to check the lock. */
export function selfHolder(role: string): LockHolder {
  return {
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    command: commandLineOf(process.pid) ?? process.argv.join(' '),
    role,
    since: new Date().toISOString(),
  };
}

/**
 * Takes the lock or throws LockHeldError naming the running holder. A stale lock (holder gone)
 * is taken over. The file appears with its full content at once (written aside, then hard-linked
 * into place), so a reader never sees a half-written lock.
 */
export function acquireLock(file: string, options: AcquireOptions): Lock {
  mkdirSync(dirname(file), { recursive: true });
  const me = selfHolder(options.role);
  const text = `${JSON.stringify(me)}\n`;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  try {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      try {
        linkSync(tmp, file);
        return ownedLock(file, me, text);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readHolder(file);
      if (holder === null) continue;
      if (holderRunning(holder)) throw new LockHeldError(options.refuse(holder), holder);
      takeOverStale(file, holder);
    }
    throw new Error(`could not take the lock ${file}: other processes keep replacing it`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

/**
 * Moves a stale lock aside. Two starters may both find it stale: the rename succeeds for one;
 * if what it moved is no longer the stale lock it judged (the other already took over), it is put
 * back.
 */
function takeOverStale(file: string, stale: LockHolder): void {
  const aside = `${file}.stale.${process.pid}`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = readHolder(aside);
  if (moved && (moved.pid !== stale.pid || moved.since !== stale.since)) {
    try {
      linkSync(aside, file);
    } catch {
      // a third starter got in between; it holds the lock now and the loop reads it
    }
  }
  unlinkSync(aside);
}

function ownedLock(file: string, holder: LockHolder, text: string): Lock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (readFileSync(file, 'utf8') === text) unlinkSync(file);
    } catch {
      // gone already, or taken over after we were presumed dead
    }
  };
  // A SIGKILL leaves the file behind (the next start sees it is stale); any other exit removes it.
  process.on('exit', release);
  return { file, holder, release };
}

/** "pid 1234 (node … run), running since …": how a refusal names the holder. */
export function describeHolder(holder: LockHolder): string {
  return `pid ${holder.pid}${holder.since ? `, started ${holder.since}` : ''}: ${holder.command}`;
}

/**
 * The lock `run` and `spark` hold for as long as they run: one Spark driver per checkpoint, one
 * relay and snapshot per state folder.
 */
export function acquirePipelineLock(
  stateDir: string,
  pipeline: string,
  database: string,
  role: string,
): Lock {
  return acquireLock(pipelineLockFile(stateDir, pipeline), {
    role,
    refuse: (h) =>
      `a syncline pipeline (${h.role}) is already running for the database ${database} with the state folder ${resolve(stateDir)}: ${describeHolder(h)}. Two at once would run two Spark drivers on one checkpoint. To fix: stop that one first (Ctrl-C where it runs, or kill ${h.pid}), then start this again.`,
  });
}
