import { spawn } from 'node:child_process';
import {
  openSync,
  closeSync,
  readFileSync,
  writeFileSync,
  rmSync,
  existsSync,
  statSync,
  readdirSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * True when a process with this pid exists and is not a zombie. Detached services outlive the CLI
 * that started them and may be re-parented to an init that never reaps them: an exited one then
 * lingers as a zombie, which for every purpose here is a dead process.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

/**
 * The command line of a pid, or null. Used to make sure a pid from a pid file still belongs to a
 * process this stack started: pids are recycled, and `down` must never kill a stranger.
 */
export function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return null;
  }
}

export function readPid(pidFile: string): number | null {
  if (!existsSync(pidFile)) return null;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The pid from the pid file if that process is alive and its command line carries `marker`. */
export function ownedPid(pidFile: string, marker: string): number | null {
  const pid = readPid(pidFile);
  if (pid === null || !isAlive(pid)) return null;
  const cmd = commandLine(pid);
  // A zombie or a recycled pid: treat as not ours.
  if (cmd === null || !cmd.includes(marker)) return null;
  return pid;
}

/** Starts a detached process whose output is appended to logFile, and records its pid. */
export function spawnDetached(
  cmd: string,
  args: string[],
  opts: { logFile: string; pidFile: string; cwd: string; env?: NodeJS.ProcessEnv },
): number {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    child.unref();
    writeFileSync(opts.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after graceMs. Resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 20_000): Promise<'terminated' | 'killed'> {
  if (!isAlive(pid)) return 'terminated';
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'terminated';
    await sleep(100);
  }
  process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(50);
  return 'killed';
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (after the parenthesised command name) is the state letter.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
}

/** Resolves true when nothing listens on host:port (we could bind it ourselves). */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Rejects when the promise does not settle within ms (a peer that accepts but never answers). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls check() until it resolves or the timeout passes; rejects with the last failure. */
export async function waitFor(
  check: () => Promise<void>,
  opts: { timeoutMs: number; intervalMs?: number; stillAlive?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown = new Error('not checked yet');
  while (Date.now() < deadline) {
    try {
      await check();
      return;
    } catch (err) {
      last = err;
    }
    if (opts.stillAlive && !opts.stillAlive()) {
      throw new Error(`the process exited during start-up (last check: ${errorText(last)})`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
  throw new Error(
    `no healthy answer within ${Math.round(opts.timeoutMs / 1000)} s (last check: ${errorText(last)})`,
  );
}

export function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorText(err.errors[0]);
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** The last `lines` lines of a log file, for start-up failure messages. */
export function tail(file: string, lines = 25): string {
  if (!existsSync(file)) return '(no log file)';
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n')
    .trimEnd();
}

/** Total size in bytes of the files under dir (0 when missing). */
export function dirSize(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) stack.push(path);
      else if (entry.isFile()) {
        try {
          total += statSync(path).size;
        } catch {
          // a file removed while we walk: ignore
        }
      }
    }
  }
  return total;
}
