// A class data sharing (CDS) archive for the local Spark job (decision 0105). A job loads ~16,000
// classes from ~300 jars at start, reading, parsing and verifying each; with the archive the JVM
// maps them from one file. Measured on 2 cores: a job of 4 tables and both sinks reached its
// running queries with 16.3 s of CPU instead of 22.0 s, 5 s sooner; the `--check` run took 4.3
// s instead of 7.0.
//
// The archive is built once per classpath, in the background at the lowest CPU priority, by the
// JVM's own static dump (`-Xshare:dump`) from the class list in jvm/spark-job/cds. The start that
// finds no archive runs without one; later starts use it. The dump writes under a temporary name
// that is renamed only after the JVM said it succeeded: a JVM given a cut-off archive crashes at
// start, one given a stale or foreign archive runs without it.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { JVM_DIR } from '../stack/jvm.ts';
import { findBinary } from '../stack/os-packages.ts';
import { isAlive } from '../stack/process.ts';

export const CLASS_LIST = join(JVM_DIR, 'spark-job', 'cds', 'classes.txt');

/** Archives kept besides the one in use: a rebuilt job jar makes a new one (~180 MB each). */
const KEEP_ARCHIVES = 2;

export interface ClassArchiveOptions {
  /** Where archives live; the pinned job jars' folder by default. */
  dir?: string;
  /** Build now and wait (tests), instead of in the background. */
  wait?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * The JVM options that use the archive for this java and classpath, or none while it is being
 * built (a build is started when there is none), when `SYNCLINE_SPARK_CLASS_ARCHIVE=off`, or when
 * a classpath entry or the class list is missing.
 */
export function classArchiveOptions(
  java: string,
  dumpOptions: string[],
  classpath: string,
  options: ClassArchiveOptions = {},
): string[] {
  const env = options.env ?? process.env;
  if (env.SYNCLINE_SPARK_CLASS_ARCHIVE === 'off') return [];
  const dir = options.dir ?? join(tmpdir(), 'syncline-jvm');
  const key = archiveKey(java, dumpOptions, classpath);
  if (key === null) return [];
  const archive = join(dir, `spark-job-${key}.jsa`);
  if (!existsSync(archive)) {
    // A dump that failed for this key is not tried again at every start (~35 s of CPU each).
    if (existsSync(`${archive}.failed`)) return [];
    try {
      buildArchive(java, dumpOptions, classpath, archive, options.wait === true);
    } catch {
      // An archive only saves time: a folder that cannot be written must not stop the job.
      return [];
    }
    if (!existsSync(archive)) return [];
  }
  // -Xshare:auto: an archive the JVM cannot use (another JDK, a jar changed since) is skipped
  // silently. Its log lines would go to stdout, where `--check` prints its answer.
  return [`-XX:SharedArchiveFile=${archive}`, '-Xshare:auto', '-Xlog:cds*=off'];
}

/**
 * What the archive depends on: the JVM, the options it is dumped with, every classpath entry (the
 * JVM refuses an archive when a jar's size or time changed) and the class list, each by size and
 * time (read at every start, so not by content).
 */
function archiveKey(java: string, dumpOptions: string[], classpath: string): string | null {
  const javaPath = resolveCommand(java);
  if (javaPath === null) return null;
  const h = createHash('sha256');
  const stamp = (p: string): void => {
    const s = statSync(p);
    h.update(`${p}\0${s.size}\0${s.mtimeMs}\n`);
  };
  try {
    stamp(javaPath);
    stamp(CLASS_LIST);
    for (const entry of classpath.split(delimiter)) stamp(entry);
  } catch {
    return null;
  }
  h.update(dumpOptions.join('\0'));
  return h.digest('hex').slice(0, 16);
}

/** The real file a command name runs (`java` from PATH, through its symlinks). */
function resolveCommand(command: string): string | null {
  const found = isAbsolute(command) ? command : findBinary(command);
  try {
    return found === null ? null : realpathSync(found);
  } catch {
    return null;
  }
}

function buildArchive(
  java: string,
  dumpOptions: string[],
  classpath: string,
  archive: string,
  wait: boolean,
): void {
  const dir = dirname(archive);
  mkdirSync(dir, { recursive: true });
  const lock = `${archive}.lock`;
  if (!takeLock(lock)) return;
  tidy(dir, archive);
  const tmp = `${archive}.${process.pid}.tmp`;
  const dump = [
    ...dumpOptions,
    '-Xshare:dump',
    `-XX:SharedClassListFile=${CLASS_LIST}`,
    `-XX:SharedArchiveFile=${tmp}`,
    '-cp',
    classpath,
  ];
  // The shell renames only after the dump exited 0 (else it leaves a marker), and removes the
  // lock either way. In the background at the lowest priority, so that the job keeps its CPU.
  const script =
    'tmp=$1; out=$2; lock=$3; level=$4; shift 4; if nice -n "$level" "$@" >/dev/null 2>&1; then mv -f "$tmp" "$out"; else touch "$out.failed"; fi; rm -f "$tmp" "$lock"';
  const args = ['-c', script, 'sh', tmp, archive, lock, wait ? '0' : '19', java, ...dump];
  if (wait) {
    spawnSync('sh', args, { stdio: 'ignore' });
    return;
  }
  const child = spawn('sh', args, { detached: true, stdio: 'ignore' });
  // Without a shell there is no dump; the lock of this live process is taken over once it exits.
  child.on('error', () => undefined);
  if (child.pid !== undefined) writeLock(lock, child.pid);
  child.unref();
}

/** Creates the lock file, or finds it held by a live builder; a dead builder's lock is taken over. */
function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      const pid = Number(readFileSafe(lock));
      // Empty: another caller created it a moment ago and is writing its pid.
      if (pid > 0 ? isAlive(pid) : ageMs(lock) < 60_000) return false;
      try {
        unlinkSync(lock);
      } catch {
        // another caller took it over first
      }
    }
  }
  return false;
}

function writeLock(lock: string, pid: number): void {
  writeFileSync(lock, String(pid));
}

function ageMs(p: string): number {
  try {
    return Date.now() - statSync(p).mtimeMs;
  } catch {
    return Infinity;
  }
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Removes archives beyond the newest KEEP_ARCHIVES and temporary files of dumps that were killed
 * (an hour old). A JVM running from a removed archive keeps its mapping.
 */
function tidy(dir: string, keep: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  // By age through ageMs, which does not throw: another start may be tidying the same folder, and
  // a throw here would leave this start's lock behind.
  const archives = names
    .filter((n) => /^spark-job-[0-9a-f]+\.jsa$/.test(n) && join(dir, n) !== keep)
    .map((n) => ({ path: join(dir, n), age: ageMs(join(dir, n)) }))
    .sort((a, b) => a.age - b.age);
  const stale = archives.slice(KEEP_ARCHIVES).map((a) => a.path);
  for (const n of names) {
    if (/^spark-job-[0-9a-f]+\.jsa\.\d+\.tmp$/.test(n) && ageMs(join(dir, n)) > 3600_000)
      stale.push(join(dir, n));
  }
  for (const p of stale) {
    try {
      unlinkSync(p);
    } catch {
      // already gone
    }
  }
}
